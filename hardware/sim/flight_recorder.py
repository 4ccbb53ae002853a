"""The physics thread's flight recorder: the last seconds of the arm's control, saved when the arm goes wrong.

What the libfranka server was commanded, what the joints did and whether the client kept up in the steps before a
fault is what tells the simulator's fault from the controller's. Each physics step appends one row to a ring
buffer; a trigger (TCP speed, contact force, the TCP far from its commanded pose, a silent client) writes the
buffer to an `.npz` file. It also counts the client's command gaps over the whole run: a real Franka stops a
motion after 20 consecutive missed commands (communication_constraints_violation), franky-sim does not (ROS-free).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

COMMUNICATION_LIMIT_STEPS = 20  # consecutive missed commands after which a real Franka stops the motion
CONTROL_MODES = ("idle", "position", "velocity", "torque", "cartesian_position", "cartesian_velocity", "other")
GAP_EDGES = (1, 2, 5, 10, 20, 50, 100)  # histogram bins of command gaps, in steps: 1, 2, 3-5, ..., >100
GAP_LABELS = ("1", "2", "3-5", "6-10", "11-20", "21-50", "51-100", ">100")
STEP_S = 0.001
# Row fields: name -> per-row shape and dtype.
FIELDS: dict[str, tuple[tuple[int, ...], Any]] = {
    "t": ((), float),  # sim time
    "wall": ((), float),  # time.monotonic() of the step
    "mode": ((), np.int8),  # index into CONTROL_MODES
    "new_cmd": ((), bool),  # a command from the client arrived before this step
    "cmd_lag": ((), np.int64),  # server state id minus the state id the newest command answered
    "q": ((7,), float),
    "dq": ((7,), float),
    "q_target": ((7,), float),  # the joint target the server's PD tracked
    "tau": ((7,), float),  # applied (clipped) joint torques
    "tcp": ((3,), float),
    "cmd_pos": ((3,), float),  # the commanded TCP position (O_T_EE_c)
    "force": ((6,), float),  # the contact wrench on the environment
}


@dataclass(frozen=True)
class FlightTrigger:
    """When to save: any of these exceeded (0 turns one off); then not again for `rearm_s` of sim time."""

    tcp_speed_m_s: float = 0.6
    force_n: float = 80.0
    tracking_error_m: float = 0.08
    client_silent_steps: int = 50
    rearm_s: float = 5.0


class FlightRecorder:
    """Ring buffer of per-step control rows; `record` runs on the physics thread after each step."""

    def __init__(self, out_dir: str | Path, seconds: float = 3.0, trigger: FlightTrigger | None = None) -> None:
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.trigger = trigger or FlightTrigger()
        self.n = max(10, round(seconds / STEP_S))
        self.rows = {name: np.zeros((self.n, *shape), dtype) for name, (shape, dtype) in FIELDS.items()}
        self.i = 0
        self.count = 0
        self.saved: list[Path] = []
        self._last_save = -np.inf
        self._last_cmd_t: float | None = None
        self.gap_hist = np.zeros(len(GAP_LABELS), np.int64)
        self.max_gap_steps = 0

    def record(self, **row: Any) -> Path | None:
        """Append one step (keyword per FIELDS, `mode` as a name); the file written if a trigger tripped."""
        i = self.i
        mode = row.pop("mode")
        self.rows["mode"][i] = CONTROL_MODES.index(mode) if mode in CONTROL_MODES else len(CONTROL_MODES) - 1
        for name, value in row.items():
            self.rows[name][i] = value
        self.i = (i + 1) % self.n
        self.count += 1
        t = float(row["t"])
        if mode != "cartesian_position":
            self._last_cmd_t = None
        elif row["new_cmd"]:
            if self._last_cmd_t is not None:
                steps = round((t - self._last_cmd_t) / STEP_S)
                self.gap_hist[int(np.searchsorted(GAP_EDGES, steps))] += 1
                self.max_gap_steps = max(self.max_gap_steps, steps)
            self._last_cmd_t = t
        if self.count < 50 or t - self._last_save < self.trigger.rearm_s:
            return None
        reason = self._tripped(i, mode)
        if reason is None:
            return None
        self._last_save = t
        return self.save(reason)

    def _tripped(self, i: int, mode: str) -> str | None:
        tr, r = self.trigger, self.rows
        prev = (i - 10) % self.n
        dt = r["t"][i] - r["t"][prev]
        if tr.tcp_speed_m_s > 0 and dt > 0:
            speed = float(np.linalg.norm(r["tcp"][i] - r["tcp"][prev]) / dt)
            if speed > tr.tcp_speed_m_s:
                return f"tcp speed {speed:.2f} m/s"
        force = float(np.linalg.norm(r["force"][i, :3]))
        if tr.force_n > 0 and force > tr.force_n:
            return f"contact force {force:.0f} N"
        if mode != "cartesian_position":
            return None
        if tr.client_silent_steps > 0 and self._last_cmd_t is not None:
            silent = round((r["t"][i] - self._last_cmd_t) / STEP_S)
            if silent >= tr.client_silent_steps:
                return f"client silent for {silent} steps"
        if tr.tracking_error_m > 0:
            err = float(np.linalg.norm(r["tcp"][i] - r["cmd_pos"][i]))
            if err > tr.tracking_error_m:
                return f"tcp {err * 100:.1f} cm from its commanded pose"
        return None

    def summary(self) -> dict[str, Any]:
        """The client's command gaps over the run (1 ms steps without a new command in a Cartesian motion)."""
        return {
            "gap_steps": dict(zip(GAP_LABELS, self.gap_hist.tolist(), strict=True)),
            "max_gap_steps": self.max_gap_steps,
            "saved": [str(p) for p in self.saved],
        }

    def save(self, reason: str) -> Path:
        """Write the buffer, oldest row first, with the reason."""
        order = np.arange(self.i, self.i + self.n) % self.n if self.count >= self.n else np.arange(self.i)
        path = self.out_dir / f"flight_{time.strftime('%Y%m%d_%H%M%S')}_{len(self.saved):03d}.npz"
        arrays = {name: rows[order] for name, rows in self.rows.items()}
        np.savez_compressed(path, reason=np.array(reason), modes=np.array(CONTROL_MODES), **arrays)
        self.saved.append(path)
        return path
