"""The closed-loop evaluation's HTML report (ROS-free): success per scenario and controller, the failure
monitor's detection metrics beside its baselines, and every policy episode's score traces against the
thresholds with the alarm and the failure marked."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from policy_runtime.evaluation.summary import controller_row
from policy_runtime.fiper.evaluate import EpisodeScores, RuleSummary
from policy_runtime.html_report import STYLE, png, table


def _fmt(v: float) -> str:
    return f"{v:.2f}" if np.isfinite(v) else "n/a"


def _success_table(outcomes: Sequence[dict[str, Any]]) -> str:
    rows = []
    keys = sorted({(o.get("scenario", "?"), o["controller"]) for o in outcomes})
    for scen, ctrl in keys:
        r = controller_row(ctrl, [o for o in outcomes if o.get("scenario", "?") == scen and o["controller"] == ctrl])
        lo, hi = r["ci95"]
        fails = ", ".join(f"{k} x{v}" for k, v in r["failures"].items()) or "-"
        rows.append(
            [scen, ctrl, f"{r['successes']}/{r['episodes']}", f"{r['success_rate']:.0%}", f"[{lo:.0%}, {hi:.0%}]",
             _fmt(r["median_coverage"]), fails]
        )  # fmt: skip
    return table(["scenario", "controller", "success", "rate", "95% CI", "median coverage", "failures"], rows)


def _rule_table(rows: Sequence[RuleSummary]) -> str:
    body = []
    for r in rows:
        m = r.metrics
        body.append(
            [r.rule, _fmt(m.tpr), _fmt(m.tnr), _fmt(m.accuracy), _fmt(m.detection_time), _fmt(m.twa),
             _fmt(r.flagged_before_failure), _fmt(r.false_alarm_rate), f"{m.n_fail}/{m.n_succ}"]
        )  # fmt: skip
    return table(
        ["rule", "TPR", "TNR", "accuracy", "detection time", "TWA", "flagged before failure", "false-alarm rate",
         "failures/successes"],
        body,
    )  # fmt: skip


def _trace(s: EpisodeScores) -> str:
    ep = s.episode
    fig, axes = plt.subplots(1, 2, figsize=(10, 2.4), sharex=True)
    t = ep.t_s
    for ax, series, thr, label in (
        (axes[0], s.rnd_window, s.rnd_threshold, "RND (window sum)"),
        (axes[1], s.ace_window, s.ace_threshold, "ACE (window sum, bits)"),
    ):
        ax.plot(t, series, lw=1.2, label=label)
        ax.plot(t, thr, "k--", lw=1, label="threshold")
        if not ep.success:
            ax.axvline(ep.failure_time_s, color="r", lw=1.5, label=f"failure ({ep.kind})")
        alarm = s.alarm_time_s("FIPER (AND)")
        if alarm is not None:
            ax.axvline(alarm, color="orange", lw=1.5, ls=":", label="FIPER alarm")
        ax.set_xlabel("episode time (s)")
        ax.set_title(label, fontsize=9)
        ax.legend(fontsize=7, loc="upper left")
    verdict = "success" if ep.success else f"failure: {ep.kind} at {ep.failure_time_s:.1f} s"
    fig.suptitle(f"{ep.name} [{ep.scenario}] {verdict}", fontsize=10)
    return png(fig)


def write_eval_report(
    out: Path,
    outcomes: Sequence[dict[str, Any]],
    command: str,
    scores: Sequence[EpisodeScores] = (),
    rules_overall: Sequence[RuleSummary] = (),
    rules_by_scenario: dict[str, Sequence[RuleSummary]] | None = None,
    monitor: str = "",
    extra: str = "",
) -> Path:
    """Write the report to `out` (one self-contained HTML file)."""
    parts = [
        f"<html><head><meta charset='utf-8'><title>rstack eval</title>{STYLE}</head><body>",
        "<h1>Closed-loop evaluation</h1>",
        f"<p><code>{html.escape(command)}</code></p>",
        "<h2>Success per scenario and controller</h2>",
        _success_table(outcomes),
    ]
    if extra:
        parts.append(extra)
    if rules_overall:
        parts += [
            f"<h2>Failure monitor (FIPER) vs its baselines</h2><p>monitor: <code>{html.escape(monitor)}</code>. "
            "Replayed over each policy episode's recorded embeddings and sampled chunks. Detection time is the "
            "first alarm's planner step over the episode length (mean over detected failures); 'flagged before "
            "failure' counts alarms earlier than the sim's failure event.</p>",
            "<h3>All scenarios</h3>",
            _rule_table(rules_overall),
        ]
        for scen, rows in (rules_by_scenario or {}).items():
            parts += [f"<h3>{html.escape(scen)}</h3>", _rule_table(rows)]
    if scores:
        parts.append("<h2>Score traces (policy episodes)</h2>")
        parts += [_trace(s) for s in scores if s.episode.length > 0]
    parts.append("</body></html>")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(parts))
    return out
