"""Scripted wiping expert (ROS-free): privileged geometry for where, measured force for how hard.

It knows the episode's path and table height (privileged sim state) and closes the force loop on
the *measured* external wrench, as a human teleoperator would feel it: an admittance law moves the
TCP target down while the normal force is below the set point and up while it is above. It outputs
TCP position targets only (the caller keeps the orientation), rate-limited, integrated from its own
previous target so the stream stays smooth.

Phases: approach (to a hover point above the path start) -> descend (until contact is felt) ->
press (settle the force) -> wipe (along the path, force regulated) -> lift -> done.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PHASES = ("approach", "descend", "press", "wipe", "lift", "done")


@dataclass(frozen=True)
class ExpertConfig:
    target_force_n: float = 10.0
    contact_force_n: float = 2.0
    admittance_m_per_ns: float = 0.0015  # target z speed per newton of force error
    max_z_speed_mps: float = 0.02
    approach_speed_mps: float = 0.10
    descend_speed_mps: float = 0.02
    wipe_speed_mps: float = 0.04
    lift_speed_mps: float = 0.08
    hover_m: float = 0.03
    lift_m: float = 0.10
    preroll_m: float = 0.015
    settle_band_n: float = 2.5
    settle_s: float = 0.3
    max_descent_below_contact_m: float = 0.02


@dataclass(frozen=True)
class WipeTask:
    """The privileged geometry the expert needs (from the sim's episode record)."""

    table_top_z: float
    path_start_xy: tuple[float, float]
    path_end_xy: tuple[float, float]
    tool_length_m: float

    @property
    def contact_z(self) -> float:
        """TCP height at which the pad face touches the table (spring at rest)."""
        return self.table_top_z + self.tool_length_m

    @classmethod
    def from_params(cls, params: dict, tool_length_m: float) -> WipeTask:
        return cls(
            float(params["table_top_z"]),
            tuple(float(v) for v in params["path_start_xy"]),
            tuple(float(v) for v in params["path_end_xy"]),
            float(tool_length_m),
        )


class WipeExpert:
    """Call `step(dt, measured_normal_force_n)` at the command rate; it returns the next TCP target."""

    def __init__(self, task: WipeTask, start_target: np.ndarray, config: ExpertConfig | None = None) -> None:
        self.task = task
        self.cfg = config or ExpertConfig()
        self.target = np.asarray(start_target, float).copy()
        if self.target.shape != (3,) or not np.all(np.isfinite(self.target)):
            raise ValueError(f"start target must be a finite xyz, got {start_target!r}")
        a = np.asarray(task.path_start_xy, float)
        b = np.asarray(task.path_end_xy, float)
        length = float(np.linalg.norm(b - a))
        if length <= 0:
            raise ValueError("path start and end coincide")
        self._u = (b - a) / length
        self._a = a - self.cfg.preroll_m * self._u
        self._length = length + 2 * self.cfg.preroll_m
        self._s = 0.0
        self.phase = "approach"
        self._settled = 0.0
        self.time_in_phase = 0.0

    @property
    def done(self) -> bool:
        return self.phase == "done"

    def lift(self) -> None:
        """Abandon the task and lift (e.g. the episode was decided)."""
        if self.phase not in ("lift", "done"):
            self._enter("lift")

    def _enter(self, phase: str) -> None:
        self.phase = phase
        self.time_in_phase = 0.0

    def _move_towards(self, goal: np.ndarray, speed: float, dt: float) -> bool:
        delta = goal - self.target
        dist = float(np.linalg.norm(delta))
        step = speed * dt
        if dist <= step:
            self.target = goal.copy()
            return True
        self.target = self.target + delta * (step / dist)
        return False

    def _regulate_z(self, force_n: float, dt: float) -> None:
        c = self.cfg
        dz = -c.admittance_m_per_ns * (c.target_force_n - force_n)
        dz = float(np.clip(dz, -c.max_z_speed_mps, c.max_z_speed_mps)) * dt
        floor = self.task.contact_z - c.max_descent_below_contact_m
        self.target[2] = max(self.target[2] + dz, floor)

    def step(self, dt: float, force_n: float) -> np.ndarray:
        """Advance by `dt` seconds with the measured normal force (N, >= 0 pressing); returns the target xyz."""
        if not (dt > 0 and np.isfinite(dt)):
            raise ValueError(f"dt must be a positive finite number, got {dt}")
        if not np.isfinite(force_n):
            raise ValueError(f"measured force must be finite, got {force_n}")
        c, task = self.cfg, self.task
        self.time_in_phase += dt
        if self.phase == "approach":
            hover = np.array([*self._a, task.contact_z + c.hover_m])
            # Never dive towards the hover point from below: rise first, then travel.
            if self.target[2] < hover[2] - 1e-4:
                self._move_towards(np.array([*self.target[:2], hover[2]]), c.approach_speed_mps, dt)
            elif self._move_towards(hover, c.approach_speed_mps, dt):
                self._enter("descend")
        elif self.phase == "descend":
            if force_n >= c.contact_force_n:
                self._enter("press")
            else:
                floor = task.contact_z - c.max_descent_below_contact_m
                self.target[2] = max(self.target[2] - c.descend_speed_mps * dt, floor)
        elif self.phase == "press":
            self._regulate_z(force_n, dt)
            self._settled = self._settled + dt if abs(force_n - c.target_force_n) < c.settle_band_n else 0.0
            if self._settled >= c.settle_s:
                self._enter("wipe")
        elif self.phase == "wipe":
            self._regulate_z(force_n, dt)
            self._s = min(self._s + c.wipe_speed_mps * dt, self._length)
            self.target[:2] = self._a + self._s * self._u
            if self._s >= self._length:
                self._enter("lift")
        elif self.phase == "lift":
            goal = np.array([*self.target[:2], max(self.target[2], task.contact_z + c.lift_m)])
            if self._move_towards(goal, c.lift_speed_mps, dt):
                self._enter("done")
        return self.target.copy()


# Where closed-loop evaluation starts every episode: above the table centre at the height the expert's lift
# ends (nominal contact height + lift_m), i.e. inside the distribution of the demonstrations' start poses.
EVAL_START_XYZ = (0.54, 0.0, 0.26)


class MoveTo:
    """Carry the target in a straight line to `goal` at `speed` (same step/lift/done interface as WipeExpert)."""

    def __init__(self, start: np.ndarray, goal: np.ndarray, speed_mps: float = 0.08) -> None:
        self.target = np.asarray(start, dtype=np.float64).copy()
        self.goal = np.asarray(goal, dtype=np.float64)
        self.speed = speed_mps

    @property
    def done(self) -> bool:
        return bool(np.allclose(self.target, self.goal))

    def lift(self) -> None:
        """Nothing to abandon: it only travels."""

    def step(self, dt: float, force_n: float) -> np.ndarray:
        delta = self.goal - self.target
        dist = float(np.linalg.norm(delta))
        self.target = self.goal.copy() if dist <= self.speed * dt else self.target + delta * (self.speed * dt / dist)
        return self.target
