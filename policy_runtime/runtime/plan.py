"""A plan from the slow planner, and the latest-wins slot the fast head reads it from."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Plan:
    """One planner output.

    latent: the latent action chunk the fast head decodes (any shape the head accepts).
    obs_stamp_s: header stamp of the observation it was planned from; the fast head indexes into the chunk
        by the time elapsed since this stamp (explicit latency compensation).
    base_pose: TCP pose [x, y, z, qx, qy, qz, qw] at that observation; actions are relative to it.
    seq: increasing plan number.
    extras: anything else the planner computed for this step (embedding, sampled chunks for the monitor).
    """

    latent: np.ndarray
    obs_stamp_s: float
    base_pose: np.ndarray
    seq: int
    planned_at_s: float = 0.0
    extras: dict = field(default_factory=dict)


class PlanSlot:
    """Holds the newest plan. `post` never blocks on a reader; `latest` is a reference read."""

    def __init__(self) -> None:
        self._plan: Plan | None = None
        self._lock = threading.Lock()
        self.posted = 0
        self.dropped_stale = 0

    def post(self, plan: Plan) -> bool:
        """Make `plan` the current one unless a newer observation's plan is already there."""
        with self._lock:
            cur = self._plan
            if cur is not None and plan.obs_stamp_s < cur.obs_stamp_s:
                self.dropped_stale += 1
                return False
            self._plan = plan
            self.posted += 1
            return True

    def latest(self) -> Plan | None:
        return self._plan

    def clear(self) -> None:
        with self._lock:
            self._plan = None
