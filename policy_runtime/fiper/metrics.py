"""Failure-prediction metrics of the FIPER paper over a set of evaluated rollouts.

A rollout is a success or a failure (ground truth) and has a first alarm step or none. With N_fail
failures and N_succ successes:
- TPR = flagged failures / N_fail; TNR = unflagged successes / N_succ; accuracy = (TPR + TNR) / 2.
- Detection time DT of a flagged failure = first alarm step / rollout length (0 = at the start,
  near 1 = at the very end); reported as the mean over true positives.
- TWA (time-weighted accuracy) = 1/2 [ sum over true positives of (1 - DT) / N_fail + TN / N_succ ].
A metric whose denominator is zero (no failures, or no successes) is NaN.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RolloutOutcome:
    """Ground truth and monitor verdict of one rollout (`alarm_step` 0-based, None if never alarmed)."""

    failed: bool
    alarm_step: int | None
    length: int

    def __post_init__(self) -> None:
        if self.length < 1:
            raise ValueError(f"rollout length must be >= 1, got {self.length}")
        if self.alarm_step is not None and not 0 <= self.alarm_step < self.length:
            raise ValueError(f"alarm step {self.alarm_step} outside the rollout's 0..{self.length - 1}")

    @property
    def flagged(self) -> bool:
        return self.alarm_step is not None

    @property
    def detection_time(self) -> float:
        """Normalized detection time in [0, 1) (NaN if never flagged)."""
        return float("nan") if self.alarm_step is None else self.alarm_step / self.length


@dataclass(frozen=True)
class DetectionMetrics:
    n_fail: int
    n_succ: int
    tp: int
    tn: int
    tpr: float
    tnr: float
    accuracy: float
    detection_time: float
    twa: float

    def as_dict(self) -> dict[str, float | int]:
        return dict(self.__dict__)


def first_alarm(alarms: Sequence[bool] | np.ndarray) -> int | None:
    """Index of the first True in an alarm series, or None."""
    a = np.asarray(alarms, dtype=bool)
    hits = np.flatnonzero(a)
    return int(hits[0]) if hits.size else None


def _ratio(num: float, den: int) -> float:
    return num / den if den else float("nan")


def detection_metrics(outcomes: Sequence[RolloutOutcome]) -> DetectionMetrics:
    """TPR, TNR, accuracy, mean DT over true positives and TWA of a set of rollouts."""
    fails = [o for o in outcomes if o.failed]
    succs = [o for o in outcomes if not o.failed]
    tps = [o for o in fails if o.flagged]
    tn = sum(1 for o in succs if not o.flagged)
    tpr = _ratio(len(tps), len(fails))
    tnr = _ratio(tn, len(succs))
    dts = [o.detection_time for o in tps]
    twa = 0.5 * (_ratio(sum(1.0 - d for d in dts), len(fails)) + tnr)
    return DetectionMetrics(
        n_fail=len(fails),
        n_succ=len(succs),
        tp=len(tps),
        tn=tn,
        tpr=tpr,
        tnr=tnr,
        accuracy=0.5 * (tpr + tnr),
        detection_time=float(np.mean(dts)) if dts else float("nan"),
        twa=twa,
    )
