"""The mean-action baseline: the demonstrations' average motion, replayed open loop.

From a built dataset (`rstack dataset build`), the commanded TCP position of every demonstration is
taken relative to where that demonstration started and averaged per control step (shorter episodes
hold their last value). Replayed from the arm's pose at the start of an episode, it does on average
what the demonstrator did, blind to the table height, the path and the force. A learned policy that
reads its sensors must beat it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class MeanAction:
    """Mean position offsets [K, 3] from the start TCP, one per control step at `rate_hz`."""

    offsets: np.ndarray
    rate_hz: float
    episodes: int

    @classmethod
    def from_dataset(cls, path: str | Path, rate_hz: float | None = None) -> MeanAction:
        import zarr

        root = zarr.open_group(str(path), mode="r")
        action = np.asarray(root["data/action"][:, :3], np.float64)
        tcp = np.asarray(root["data/tcp_pose"][:, :3], np.float64)
        ends = np.asarray(root["meta/episode_ends"][:], np.int64)
        if ends.size == 0:
            raise ValueError(f"{path}: no episodes")
        if rate_hz is None:
            stamps = np.asarray(root["data/timestamp"][: int(ends[0])], np.float64)
            rate_hz = float(1.0 / np.median(np.diff(stamps))) if stamps.size > 1 else 24.0
        starts = np.concatenate([[0], ends[:-1]])
        length = int(np.max(ends - starts))
        rel = np.empty((len(ends), length, 3))
        for i, (a, b) in enumerate(zip(starts, ends, strict=True)):
            ep = action[a:b] - tcp[a]
            rel[i, : b - a] = ep
            rel[i, b - a :] = ep[-1]
        return cls(rel.mean(axis=0), float(rate_hz), len(ends))

    def controller(self, start_xyz: np.ndarray, lift_speed_mps: float = 0.08, lift_m: float = 0.10) -> Replay:
        return Replay(self, np.asarray(start_xyz, float), lift_speed_mps, lift_m)


class Replay:
    """`step(dt, force)` -> target xyz, like the scripted expert; `lift()` then `done`."""

    def __init__(self, mean: MeanAction, start_xyz: np.ndarray, lift_speed_mps: float, lift_m: float) -> None:
        self.mean = mean
        self.start = start_xyz.copy()
        self.t = 0.0
        self.target = start_xyz.copy()
        self.lift_speed = lift_speed_mps
        self.lift_m = lift_m
        self._lift_to: float | None = None

    @property
    def done(self) -> bool:
        return self._lift_to is not None and self.target[2] >= self._lift_to - 1e-9

    def lift(self) -> None:
        if self._lift_to is None:
            self._lift_to = max(self.start[2], self.target[2] + self.lift_m)

    def step(self, dt: float, force_n: float) -> np.ndarray:
        del force_n  # open loop by definition
        self.t += dt
        if self._lift_to is not None:
            self.target[2] = min(self._lift_to, self.target[2] + self.lift_speed * dt)
        else:
            k = min(int(self.t * self.mean.rate_hz), len(self.mean.offsets) - 1)
            self.target = self.start + self.mean.offsets[k]
        return self.target.copy()
