"""`rstack dataset report`: one self-contained HTML page about a recording directory (ROS-free).

Per episode: status, outcome, stop reason, duration, grid length, rate and drops per topic, skew and
the sync flags (the builder's rule, `episode_sync`). Figures (matplotlib, embedded as PNG): episode
lengths, outcomes, rates per topic, and the histogram of skew over every episode.
"""

from __future__ import annotations

import html
from collections import Counter
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from tqdm import tqdm

from policy_runtime.datasets.builder import EpisodePlan, StreamMap, plan_episode
from policy_runtime.datasets.index import load_index
from policy_runtime.html_report import png as _png
from policy_runtime.html_report import table as _table


def write_report(
    episodes_dir: Path,
    out: Path,
    streams: StreamMap,
    rate_hz: float = 10.0,
    max_skew_s: float = 0.05,
    progress: bool = True,
) -> dict[str, Any]:
    """Write the HTML report to `out`; returns the numbers it shows (per episode)."""
    index = load_index(episodes_dir)
    entries = [e for _, e in sorted(index.episodes.items()) if e.get("file")]
    plans: list[tuple[dict[str, Any], EpisodePlan | None, str]] = []
    for e in tqdm(entries, desc="report", unit="episode", disable=not progress):
        try:
            plan = plan_episode(e["id"], Path(episodes_dir) / e["file"], streams, rate_hz, max_skew_s, None)
            plans.append((e, plan, ""))
        except Exception as exc:  # an unreadable episode is reported, not fatal
            plans.append((e, None, f"unreadable: {type(exc).__name__}: {exc}"))

    rows, rate_rows, skews, numbers = [], [], [], {}
    for e, plan, err in plans:
        sync = plan.sync if plan is not None else None
        flags = err or " | ".join(plan.flags if plan is not None else [])
        ticks = int(sync.ticks.size) if sync is not None else 0
        rows.append(
            [
                e["id"],
                e.get("status", ""),
                e.get("outcome", ""),
                e.get("stop_reason", ""),
                e.get("duration_s", ""),
                ticks,
                sum((e.get("drops") or {}).values()),
                flags or "ok",
            ]
        )
        if sync is not None:
            skews.append(sync.skew_s[sync.ok] * 1e3)
            for name, g in sync.gaps.items():
                rate_rows.append([e["id"], name, g.count, f"{g.rate_hz:.1f}", f"{g.max_gap_s:.3f}", g.missing_estimate])
        numbers[e["id"]] = {
            "status": e.get("status"),
            "outcome": e.get("outcome"),
            "ticks": ticks,
            "flags": flags,
            "rates_hz": {k: g.rate_hz for k, g in sync.gaps.items()} if sync is not None else {},
        }

    figs = []
    ids = [e["id"] for e, _, _ in plans]
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.bar(ids, [float(e.get("duration_s") or 0) for e, _, _ in plans])
    ax.set_ylabel("duration (s)")
    ax.set_title("Episode lengths")
    ax.tick_params(axis="x", rotation=60)
    figs.append(_png(fig))
    outcomes = Counter(f"{e.get('status')}/{e.get('outcome')}" for e in index.episodes.values())
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.bar(list(outcomes), list(outcomes.values()))
    ax.set_title("Outcomes (status/outcome)")
    figs.append(_png(fig))
    fig, ax = plt.subplots(figsize=(7, 3))
    for e, plan, _ in plans:
        if plan is not None and plan.sync is not None:
            names = list(plan.sync.gaps)
            ax.plot(names, [plan.sync.gaps[n].rate_hz for n in names], "o", label=e["id"])
    ax.set_ylabel("rate (Hz, from stamps)")
    ax.set_title("Rates per stream")
    ax.tick_params(axis="x", rotation=60)
    figs.append(_png(fig))
    fig, ax = plt.subplots(figsize=(6, 3))
    pooled = np.concatenate(skews) if skews else np.zeros(0)
    ax.hist(pooled, bins=40)
    ax.axvline(max_skew_s * 1e3, color="r", label=f"bound {max_skew_s * 1e3:.0f} ms")
    ax.set_xlabel("skew across sensor stamps per tick (ms)")
    ax.set_title(f"Skew at {rate_hz:g} Hz (valid ticks)")
    ax.legend()
    figs.append(_png(fig))

    title = f"Episodes in {html.escape(str(episodes_dir))}"
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:2px 6px;font-size:13px}} img{{margin:4px}}</style></head><body>
<h1>{title}</h1>
<p>{len(index.episodes)} episodes; sync rule: sensors latest-before by header stamp, max skew
{max_skew_s * 1e3:.0f} ms, grid {rate_hz:g} Hz. Discarded takes: {len(index.data.get("discarded", []))}.</p>
{"".join(figs)}
<h2>Episodes</h2>
{_table(["id", "status", "outcome", "stop", "duration s", "ticks", "drops", "flags"], rows)}
<h2>Streams</h2>
{_table(["episode", "stream", "messages", "rate Hz", "max gap s", "missing (est.)"], rate_rows)}
</body></html>
"""
    Path(out).write_text(page)
    return numbers
