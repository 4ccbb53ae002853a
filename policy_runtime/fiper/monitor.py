"""The run-time FIPER failure monitor (ROS-free): one call per planner step.

`FailureMonitor.step(embedding [D], chunks [B, H, 3])` scores the step (RND through onnxruntime, ACE
on the calibrated grid), adds both scores to their rolling windows, compares the windowed scores with
the calibrated thresholds (constant, or time-varying by step since the last reset) and applies the rule
(AND by default). The alarm latches until `reset()`.

Bad input (wrong embedding dim, another B or H than calibrated, NaN values, a NaN score) means the
monitor cannot vouch for the robot: `step` latches a *fault* alarm (indicator "fault") and raises
`MonitorFault` with the reason; the caller stops the arm.

`replay` applies the same windows, thresholds and rule to recorded raw scores (offline evaluation and
the RND-only / ACE-only / OR baselines from one scoring pass).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from policy_runtime.fiper.ace import action_chunk_entropy, check_chunks
from policy_runtime.fiper.artifacts import (
    ArtifactError,
    IndicatorThresholds,
    MonitorArtifacts,
    load_artifacts,
)
from policy_runtime.fiper.rnd import RNDOnnxScorer
from policy_runtime.fiper.rule import Rule, combine, fired_label
from policy_runtime.fiper.window import RollingWindowSum, windowed_sums

FAULT = "fault"


class MonitorFault(ValueError):
    """The monitor got input it cannot score; it has latched a fault alarm."""


@dataclass(frozen=True)
class MonitorStep:
    """The verdict of one planner step (scores are raw per-step values; `*_window` the windowed sums)."""

    step: int
    rnd_score: float
    ace_score: float
    rnd_window: float
    ace_window: float
    rnd_threshold: float
    ace_threshold: float
    rnd_exceeds: bool
    ace_exceeds: bool
    fired: str
    alarm: bool
    new_alarm: bool


@dataclass(frozen=True)
class AlarmInfo:
    """Why and when the latched alarm was raised."""

    step: int
    fired: str
    reason: str


class FailureMonitor:
    """FIPER monitor state for one rollout: windows, step counter, latched alarm."""

    def __init__(
        self,
        artifacts: MonitorArtifacts,
        scorer: RNDOnnxScorer | None = None,
        rule: Rule | str = Rule.AND,
        time_varying: bool = False,
    ) -> None:
        self.artifacts = artifacts
        self.scorer = scorer or RNDOnnxScorer(artifacts.rnd_path)
        if self.scorer.embedding_dim != artifacts.embedding_dim:
            raise ArtifactError(
                f"RND model takes embedding dim {self.scorer.embedding_dim}, the monitor file says "
                f"{artifacts.embedding_dim}"
            )
        self.rule = Rule.parse(rule)
        self.time_varying = bool(time_varying)
        self._cell = np.asarray(artifacts.ace_cell_size, dtype=np.float64)
        self._rnd_win = RollingWindowSum(artifacts.window)
        self._ace_win = RollingWindowSum(artifacts.window)
        self.steps = 0
        self.alarm: AlarmInfo | None = None

    @classmethod
    def load(
        cls,
        monitor_dir: str | Path,
        policy_dir: str | Path | None = None,
        rule: Rule | str = Rule.AND,
        time_varying: bool = False,
    ) -> FailureMonitor:
        """Load artifacts (refusing a monitor calibrated for another policy when `policy_dir` is given)."""
        return cls(load_artifacts(monitor_dir, policy_dir), rule=rule, time_varying=time_varying)

    @property
    def window(self) -> int:
        return self.artifacts.window

    def thresholds_at(self, step: int) -> tuple[float, float]:
        return (
            self.artifacts.rnd.at(step, self.time_varying),
            self.artifacts.ace.at(step, self.time_varying),
        )

    def latch_fault(self, reason: str) -> None:
        """Latch a fault alarm (input that cannot be scored) unless an alarm is already latched."""
        if self.alarm is None:
            self.alarm = AlarmInfo(self.steps, FAULT, reason)

    def _fault(self, reason: str) -> MonitorFault:
        self.latch_fault(reason)
        return MonitorFault(reason)

    def _check(self, embedding: np.ndarray, chunks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        art = self.artifacts
        e = np.asarray(embedding, dtype=np.float32).reshape(-1)
        if e.size != art.embedding_dim:
            raise self._fault(f"embedding has dimension {e.size}, the monitor was calibrated for {art.embedding_dim}")
        if not np.all(np.isfinite(e)):
            raise self._fault(f"embedding contains {int(np.sum(~np.isfinite(e)))} non-finite value(s)")
        try:
            c = check_chunks(chunks)
        except ValueError as exc:
            raise self._fault(str(exc)) from None
        if c.shape[:2] != (art.ace_num_samples, art.ace_horizon):
            raise self._fault(
                f"sampled chunks have B={c.shape[0]}, H={c.shape[1]}; the monitor was calibrated with "
                f"B={art.ace_num_samples}, H={art.ace_horizon} (ACE thresholds depend on both)"
            )
        return e, c

    def step(self, embedding: np.ndarray, chunks: np.ndarray) -> MonitorStep:
        """Score one planner step and update the latched alarm; raises MonitorFault on bad input."""
        e, c = self._check(embedding, chunks)
        rnd = float(self.scorer.score(e[None, :])[0])
        ace = action_chunk_entropy(c, self._cell)
        if not (np.isfinite(rnd) and np.isfinite(ace)):
            raise self._fault(f"non-finite score (rnd={rnd}, ace={ace})")
        t = self.steps
        rnd_w, ace_w = self._rnd_win.push(rnd), self._ace_win.push(ace)
        rnd_thr, ace_thr = self.thresholds_at(t)
        rnd_x, ace_x = rnd_w > rnd_thr, ace_w > ace_thr
        fired = fired_label(rnd_x, ace_x)
        new_alarm = False
        if combine(self.rule, rnd_x, ace_x) and self.alarm is None:
            self.alarm = AlarmInfo(t, fired, f"{fired} above threshold at step {t} (rule {self.rule.value})")
            new_alarm = True
        self.steps += 1
        return MonitorStep(
            step=t,
            rnd_score=rnd,
            ace_score=ace,
            rnd_window=rnd_w,
            ace_window=ace_w,
            rnd_threshold=rnd_thr,
            ace_threshold=ace_thr,
            rnd_exceeds=bool(rnd_x),
            ace_exceeds=bool(ace_x),
            fired=fired,
            alarm=self.alarm is not None,
            new_alarm=new_alarm,
        )

    def reset_windows(self) -> None:
        """Start a new rollout (windows and step counter) but keep a latched alarm."""
        self._rnd_win.reset()
        self._ace_win.reset()
        self.steps = 0

    def reset(self) -> None:
        """Clear the latched alarm, the windows and the step counter (a new rollout)."""
        self.reset_windows()
        self.alarm = None


def _thresholds(t: IndicatorThresholds, n: int, time_varying: bool) -> np.ndarray:
    return np.array([t.at(i, time_varying) for i in range(n)])


def replay(
    artifacts: MonitorArtifacts,
    rnd_scores: np.ndarray,
    ace_scores: np.ndarray,
    rule: Rule | str = Rule.AND,
    time_varying: bool = False,
) -> np.ndarray:
    """Alarm series [T] (not latched) of one rollout's raw per-step scores under `rule`."""
    r, a = np.asarray(rnd_scores, np.float64), np.asarray(ace_scores, np.float64)
    if r.shape != a.shape or r.ndim != 1:
        raise ValueError(f"rnd and ace score series must be 1-D of equal length, got {r.shape} and {a.shape}")
    n = r.size
    rw, aw = windowed_sums(r, artifacts.window), windowed_sums(a, artifacts.window)
    rx = rw > _thresholds(artifacts.rnd, n, time_varying)
    ax = aw > _thresholds(artifacts.ace, n, time_varying)
    return np.asarray(combine(Rule.parse(rule), rx, ax), dtype=bool)
