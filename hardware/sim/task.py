"""The wiping task: its geometry, seeded per-episode randomization, success metric and outcome record.

Wipe a straight path drawn on the table with the compliant pad, from its -y end towards +y, holding a
normal force inside the band (5-15 N) and never above the hard limit (30 N). The table height changes per
episode (seeded), so a camera alone cannot tell how far down to press: force or touch must close the loop.

Success metric, from sim state: the path is cut into `n_cells` cells along its length; a cell counts
as wiped when the pad centre is over it (within `lateral_tolerance_m`) while the normal force is in
the band. Success = coverage >= `required_coverage` before `time_limit_s`, without ever exceeding
the hard force limit and without any other part of the robot touching the table.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from hardware.sim.scenarios import Scenario


@dataclass(frozen=True)
class TaskSpec:
    """Fixed geometry and thresholds of the wiping task (metres, newtons, seconds)."""

    table_top_nominal_z: float = 0.12
    table_center_xy: tuple[float, float] = (0.55, 0.0)
    table_half_xy: tuple[float, float] = (0.22, 0.35)
    path_length_m: float = 0.16
    path_center_x: tuple[float, float] = (0.50, 0.58)
    path_center_y: tuple[float, float] = (-0.04, 0.04)
    path_max_angle_rad: float = 0.25
    force_band_n: tuple[float, float] = (5.0, 15.0)
    hard_limit_n: float = 30.0
    lateral_tolerance_m: float = 0.02
    n_cells: int = 20
    required_coverage: float = 0.9
    time_limit_s: float = 20.0
    # The stripe looks the same from both ends, so a camera cannot tell where a wipe should start. With a
    # random direction the demonstrations were two modes the policy could not tell apart: its plans flipped
    # between them every planner step, and it stalled mid-stripe. The wipe therefore runs towards +y.
    random_direction: bool = False

    def __post_init__(self) -> None:
        lo, hi = self.force_band_n
        if not (0 < lo < hi < self.hard_limit_n):
            raise ValueError(
                f"need 0 < band low < band high < hard limit, got {self.force_band_n}, {self.hard_limit_n}"
            )
        if not (0 < self.required_coverage <= 1) or self.n_cells < 1:
            raise ValueError("required_coverage must be in (0, 1] and n_cells >= 1")


@dataclass(frozen=True)
class EpisodeParams:
    """Everything random about one episode, drawn from a scenario with a seed (reproducible)."""

    episode: int
    seed: int
    scenario: str
    table_top_z: float
    path_start_xy: tuple[float, float]
    path_end_xy: tuple[float, float]
    pad_friction: float
    pad_stiffness_n_per_m: float
    camera_offset_m: tuple[float, float, float] = (0.0, 0.0, 0.0)
    camera_tilt_rad: tuple[float, float, float] = (0.0, 0.0, 0.0)
    light_scale: float = 1.0
    push_at_s: float | None = None
    push_force_xy_n: tuple[float, float] = (0.0, 0.0)
    push_duration_s: float = 0.0
    tactile_freeze_at_s: float | None = None

    @classmethod
    def sample(cls, scenario: Scenario, seed: int, episode: int, spec: TaskSpec | None = None) -> EpisodeParams:
        """Draw episode `episode` of `scenario` from the generator seeded with (seed, episode)."""
        spec = spec or TaskSpec()
        if seed < 0 or episode < 0:
            raise ValueError(f"seed and episode must be >= 0, got seed={seed} episode={episode}")
        rng = np.random.default_rng([int(seed), int(episode)])
        lo, hi = scenario.table_offset_abs_m
        offset = float(rng.uniform(lo, hi)) * (1.0 if rng.random() < 0.5 else -1.0)
        cx = float(rng.uniform(*spec.path_center_x))
        cy = float(rng.uniform(*spec.path_center_y))
        angle = float(rng.uniform(-spec.path_max_angle_rad, spec.path_max_angle_rad))
        direction = 1.0 if rng.random() < 0.5 or not spec.random_direction else -1.0  # draw kept: same seeds
        half = 0.5 * spec.path_length_m * direction
        dx, dy = -math.sin(angle) * half, math.cos(angle) * half  # the path runs roughly along y
        cam_dir = _unit(rng.normal(size=3))
        tilt_dir = _unit(rng.normal(size=3))
        push_at = float(rng.uniform(*scenario.push_at_s)) if scenario.push_force_n > 0 else None
        push_angle = float(rng.uniform(0, 2 * math.pi))
        freeze = float(rng.uniform(*scenario.tactile_freeze_at_s)) if scenario.tactile_freeze_at_s else None
        return cls(
            episode=int(episode),
            seed=int(seed),
            scenario=scenario.name,
            table_top_z=spec.table_top_nominal_z + offset,
            path_start_xy=(cx - dx, cy - dy),
            path_end_xy=(cx + dx, cy + dy),
            pad_friction=scenario.pad_friction,
            pad_stiffness_n_per_m=scenario.pad_stiffness_n_per_m,
            camera_offset_m=tuple(float(v) for v in cam_dir * scenario.camera_shift_m),
            camera_tilt_rad=tuple(float(v) for v in tilt_dir * scenario.camera_tilt_rad),
            light_scale=scenario.light_scale,
            push_at_s=push_at,
            push_force_xy_n=(
                scenario.push_force_n * math.cos(push_angle),
                scenario.push_force_n * math.sin(push_angle),
            ),
            push_duration_s=scenario.push_duration_s if push_at is not None else 0.0,
            tactile_freeze_at_s=freeze,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else np.array([1.0, 0.0, 0.0])


FAILURE_KINDS = ("force_limit", "collision", "timeout", "aborted")


@dataclass(frozen=True)
class EpisodeOutcome:
    """How an episode ended. `time_s` is the episode time of the deciding event (the failure time)."""

    episode: int
    seed: int
    scenario: str
    success: bool
    kind: str  # "success" or one of FAILURE_KINDS
    time_s: float
    coverage: float
    max_force_n: float
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class WipeProgress:
    """The success metric of one running episode, fed with sim state samples (pure logic)."""

    params: EpisodeParams
    spec: TaskSpec = field(default_factory=TaskSpec)
    outcome: EpisodeOutcome | None = None
    max_force_n: float = 0.0
    samples_in_band: int = 0
    samples_in_contact: int = 0

    def __post_init__(self) -> None:
        self._wiped = np.zeros(self.spec.n_cells, dtype=bool)
        a = np.asarray(self.params.path_start_xy, float)
        b = np.asarray(self.params.path_end_xy, float)
        self._a = a
        self._length = float(np.linalg.norm(b - a))
        if self._length <= 0:
            raise ValueError("path start and end coincide")
        self._u = (b - a) / self._length

    @property
    def coverage(self) -> float:
        return float(self._wiped.mean())

    @property
    def wiped_cells(self) -> np.ndarray:
        return self._wiped.copy()

    def path_coordinates(self, xy: np.ndarray) -> tuple[float, float]:
        """(arc length along the path, |lateral distance|) of a table point."""
        d = np.asarray(xy, float)[:2] - self._a
        s = float(d @ self._u)
        lateral = abs(float(d[0] * self._u[1] - d[1] * self._u[0]))
        return s, lateral

    def update(self, t: float, pad_xy: np.ndarray, normal_force_n: float, collision: str = "") -> EpisodeOutcome | None:
        """One sample at episode time `t`: pad centre on the table, pad normal force, other contact.

        `collision` names a robot part (other than the pad) touching the environment, "" if none.
        Returns the outcome once decided (and from then on the same one).
        """
        if self.outcome is not None:
            return self.outcome
        if not math.isfinite(normal_force_n):
            raise ValueError(f"normal force must be finite, got {normal_force_n}")
        spec = self.spec
        self.max_force_n = max(self.max_force_n, normal_force_n)
        if normal_force_n > spec.hard_limit_n:
            return self._end(t, "force_limit", f"normal force {normal_force_n:.1f} N > {spec.hard_limit_n} N")
        if collision:
            return self._end(t, "collision", f"{collision} touched the environment")
        lo, hi = spec.force_band_n
        if normal_force_n > 0.5:
            self.samples_in_contact += 1
        if lo <= normal_force_n <= hi:
            self.samples_in_band += 1
            s, lateral = self.path_coordinates(pad_xy)
            if lateral <= spec.lateral_tolerance_m and 0.0 <= s <= self._length:
                cell = min(int(s / self._length * spec.n_cells), spec.n_cells - 1)
                self._wiped[cell] = True
        if self.coverage >= spec.required_coverage - 1e-9:
            return self._end(t, "success", "")
        if t >= spec.time_limit_s:
            return self._end(t, "timeout", f"coverage {self.coverage:.2f} < {spec.required_coverage}")
        return None

    def abort(self, t: float, detail: str = "reset before the episode ended") -> EpisodeOutcome:
        if self.outcome is None:
            self._end(t, "aborted", detail)
        assert self.outcome is not None
        return self.outcome

    def _end(self, t: float, kind: str, detail: str) -> EpisodeOutcome:
        p = self.params
        self.outcome = EpisodeOutcome(
            p.episode, p.seed, p.scenario, kind == "success", kind, float(t), self.coverage, self.max_force_n, detail
        )
        return self.outcome
