"""Offline FIPER evaluation of recorded closed-loop episodes: the monitor and its baselines side by side.

Each evaluated episode stores, per planner step, the policy's observation embedding, its B sampled
end-effector chunks and the episode time of the step, plus the sim's ground truth (success, failure kind
and time). The monitor is replayed over those streams with the same code the node runs (RND graph,
ACE, rolling windows, thresholds), once per alarm rule: FIPER (AND) and the paper's baselines RND-only,
ACE-only and OR. Replaying rather than stopping the arm live keeps the ground-truth outcome of every
episode unaffected by the monitor, which is how the metrics are defined.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from policy_runtime.fiper.ace import action_chunk_entropy
from policy_runtime.fiper.artifacts import MonitorArtifacts
from policy_runtime.fiper.metrics import DetectionMetrics, RolloutOutcome, detection_metrics, first_alarm
from policy_runtime.fiper.monitor import replay
from policy_runtime.fiper.rnd import RNDOnnxScorer
from policy_runtime.fiper.rule import Rule
from policy_runtime.fiper.window import windowed_sums

RULES: dict[str, Rule] = {"FIPER (AND)": Rule.AND, "RND only": Rule.RND, "ACE only": Rule.ACE, "OR": Rule.OR}


@dataclass
class EpisodeFeatures:
    """One evaluated episode: monitor inputs per planner step and the ground truth."""

    name: str
    scenario: str
    success: bool
    kind: str  # "success" or the failure kind
    failure_time_s: float  # episode time of the deciding event (end of episode for a success)
    embedding: np.ndarray  # [T, D]
    chunks: np.ndarray  # [T, B, H, 3] base-frame end-effector positions
    t_s: np.ndarray  # [T] episode time of each planner step
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.embedding)
        if self.chunks.shape[:1] != (n,) or self.t_s.shape != (n,):
            raise ValueError(
                f"episode {self.name}: {n} embeddings, {len(self.chunks)} chunk sets, {len(self.t_s)} times"
            )

    @property
    def length(self) -> int:
        return len(self.embedding)

    def save(self, path: str | Path) -> Path:
        """npz readable by `load_episode` and, for successes, by `rstack fiper calibrate --rollouts`."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        np.savez(
            p,
            embedding=np.asarray(self.embedding, np.float32),
            chunks=np.asarray(self.chunks, np.float32),
            t_s=np.asarray(self.t_s, np.float64),
            success=self.success,
            kind=self.kind,
            scenario=self.scenario,
            failure_time_s=self.failure_time_s,
        )
        return p


def load_episode(path: str | Path) -> EpisodeFeatures:
    p = Path(path)
    with np.load(p, allow_pickle=False) as z:
        return EpisodeFeatures(
            name=p.stem,
            scenario=str(z["scenario"]),
            success=bool(z["success"]),
            kind=str(z["kind"]),
            failure_time_s=float(z["failure_time_s"]),
            embedding=z["embedding"],
            chunks=z["chunks"],
            t_s=z["t_s"],
        )


@dataclass
class EpisodeScores:
    """Raw and windowed scores of one episode, and each rule's first alarm (planner step, or None)."""

    episode: EpisodeFeatures
    rnd: np.ndarray
    ace: np.ndarray
    rnd_window: np.ndarray
    ace_window: np.ndarray
    rnd_threshold: np.ndarray
    ace_threshold: np.ndarray
    first_alarm: dict[str, int | None]

    def alarm_time_s(self, rule: str) -> float | None:
        k = self.first_alarm[rule]
        return None if k is None else float(self.episode.t_s[k])

    def flagged_before_failure(self, rule: str) -> bool:
        """A failure flagged strictly before the sim decided it."""
        t = self.alarm_time_s(rule)
        return (not self.episode.success) and t is not None and t < self.episode.failure_time_s


def score_episodes(
    artifacts: MonitorArtifacts, episodes: Sequence[EpisodeFeatures], time_varying: bool = False
) -> list[EpisodeScores]:
    """Replay the monitor over every episode under every rule of `RULES`."""
    scorer = RNDOnnxScorer(artifacts.rnd_path)
    cell = np.asarray(artifacts.ace_cell_size, np.float64)
    out = []
    for ep in episodes:
        if ep.length == 0:
            rnd = ace = np.zeros(0)
        else:
            if ep.embedding.shape[1] != artifacts.embedding_dim:
                raise ValueError(
                    f"episode {ep.name}: embedding dimension {ep.embedding.shape[1]}, "
                    f"the monitor expects {artifacts.embedding_dim}"
                )
            rnd = np.asarray(scorer.score(ep.embedding), np.float64)
            ace = np.array([action_chunk_entropy(c, cell) for c in ep.chunks], np.float64)
        n = len(rnd)
        alarms = {
            name: (first_alarm(replay(artifacts, rnd, ace, rule, time_varying)) if n else None)
            for name, rule in RULES.items()
        }
        out.append(
            EpisodeScores(
                ep,
                rnd,
                ace,
                windowed_sums(rnd, artifacts.window) if n else rnd,
                windowed_sums(ace, artifacts.window) if n else ace,
                np.array([artifacts.rnd.at(i, time_varying) for i in range(n)]),
                np.array([artifacts.ace.at(i, time_varying) for i in range(n)]),
                alarms,
            )
        )
    return out


@dataclass(frozen=True)
class RuleSummary:
    rule: str
    metrics: DetectionMetrics
    flagged_before_failure: float  # fraction of failures alarmed before the sim decided them
    false_alarm_rate: float  # fraction of successes alarmed (1 - TNR)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            **self.metrics.as_dict(),
            "flagged_before_failure": self.flagged_before_failure,
            "false_alarm_rate": self.false_alarm_rate,
        }


def summarize(scores: Sequence[EpisodeScores]) -> list[RuleSummary]:
    """Detection metrics of each rule over `scores` (one row per rule, in `RULES` order)."""
    rows = []
    for name in RULES:
        outcomes = [
            RolloutOutcome(not s.episode.success, s.first_alarm[name], max(1, s.episode.length)) for s in scores
        ]
        m = detection_metrics(outcomes)
        fails = [s for s in scores if not s.episode.success]
        before = sum(s.flagged_before_failure(name) for s in fails) / len(fails) if fails else float("nan")
        rows.append(RuleSummary(name, m, before, 1.0 - m.tnr if m.n_succ else float("nan")))
    return rows


def format_rules(rows: Sequence[RuleSummary]) -> str:
    """A fixed-width table of the rules side by side."""
    cols = " ".join(f"{c:>5s}" for c in ("TPR", "TNR", "acc", "DT", "TWA", "early", "FAR"))
    head = f"{'rule':12s} {cols}   n_fail/n_succ"
    lines = [head]
    for r in rows:
        m = r.metrics
        vals = (m.tpr, m.tnr, m.accuracy, m.detection_time, m.twa, r.flagged_before_failure, r.false_alarm_rate)
        cells = " ".join(f"{v:5.2f}" if np.isfinite(v) else "  n/a" for v in vals)
        lines.append(f"{r.rule:12s} {cells}   {m.n_fail}/{m.n_succ}")
    return "\n".join(lines)
