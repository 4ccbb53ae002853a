"""Which of the B sampled chunks to execute: the one that continues the plan being executed.

A diffusion planner samples a multimodal action distribution afresh at every planner step. Executing sample 0
each time lets the arm switch modes (e.g. wipe one way, then the other) from one step to the next and stall
between them. Bidirectional Decoding (Liu et al., 2024) keeps the closed loop coherent by executing, among the B
samples, the one closest to the previous decision over the time both chunks cover ("backward coherence").
The B samples are drawn anyway for the failure monitor, so this costs no network evaluation.
"""

from __future__ import annotations

import numpy as np


def overlap_distances(
    chunks_xyz: np.ndarray, stamp_s: float, prev_xyz: np.ndarray, prev_stamp_s: float, step_s: float
) -> np.ndarray | None:
    """Mean distance (m) of each sample ``[B, H, 3]`` to the previous chunk ``[H, 3]`` over the steps both cover.

    Step k of a chunk planned at `stamp_s` is due at ``stamp_s + k * step_s``. None when they share no step."""
    horizon = prev_xyz.shape[0]
    shift = round((stamp_s - prev_stamp_s) / step_s)
    if shift < 0 or shift >= min(horizon, chunks_xyz.shape[1]):
        return None
    n = min(chunks_xyz.shape[1], horizon - shift)
    diff = chunks_xyz[:, :n, :] - prev_xyz[None, shift : shift + n, :]
    return np.linalg.norm(diff, axis=-1).mean(axis=-1)


class CoherentChoice:
    """Picks the sample to execute at each planner step; remembers the chunk it picked last."""

    def __init__(self, step_s: float, enabled: bool = True) -> None:
        if not step_s > 0:
            raise ValueError(f"step_s must be > 0, got {step_s!r}")
        self.step_s = step_s
        self.enabled = enabled
        self._prev: tuple[np.ndarray, float] | None = None
        self.switched = 0  # steps on which a sample other than 0 was executed

    def reset(self) -> None:
        """Forget the previous chunk (a new episode, or the arm was moved by someone else)."""
        self._prev = None

    def choose(self, chunks_xyz: np.ndarray, stamp_s: float) -> int:
        """Index of the sample to execute among `chunks_xyz` ``[B, H, 3]`` (absolute positions)."""
        pick = 0
        if self.enabled and self._prev is not None:
            d = overlap_distances(chunks_xyz, stamp_s, self._prev[0], self._prev[1], self.step_s)
            if d is not None and np.all(np.isfinite(d)):
                pick = int(np.argmin(d))
        self.switched += pick != 0
        self._prev = (np.array(chunks_xyz[pick], dtype=np.float64), stamp_s)
        return pick
