"""Success-rate summaries of closed-loop evaluations, side by side."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a success rate (sensible at 0/n and n/n, unlike the normal one)."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    d = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / d
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return max(0.0, centre - half), min(1.0, centre + half)


def controller_row(name: str, outcomes: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(outcomes)
    ok = sum(1 for o in outcomes if o["success"])
    lo, hi = wilson_interval(ok, n)
    cov = sorted(float(o["coverage"]) for o in outcomes)
    kinds = Counter(o["kind"] for o in outcomes if not o["success"])
    return {
        "controller": name,
        "episodes": n,
        "successes": ok,
        "success_rate": ok / n if n else float("nan"),
        "ci95": (lo, hi),
        "median_coverage": cov[n // 2] if n else float("nan"),
        "failures": dict(kinds.most_common()),
        # Episodes in which the arm's contact force limit pulled targets back (None: not reported).
        "contact_limited": (
            sum(1 for o in outcomes if o.get("arm_contact_limited", 0) > 0)
            if any("arm_contact_limited" in o for o in outcomes)
            else None
        ),
    }


def format_table(rows: list[dict[str, Any]]) -> str:
    """A fixed-width table: controller, success k/n and rate with its 95% interval, coverage, failure kinds."""
    lines = [f"{'controller':28s} {'success':>9s} {'rate':>6s} {'95% CI':>13s} {'coverage':>9s}  failures"]
    for r in rows:
        lo, hi = r["ci95"]
        fails = ", ".join(f"{k} x{v}" for k, v in r["failures"].items()) or "-"
        if r.get("contact_limited"):
            fails += f"; contact limit engaged in {r['contact_limited']}/{r['episodes']}"
        lines.append(
            f"{r['controller'][:28]:28s} {r['successes']:>4d}/{r['episodes']:<4d} {r['success_rate']:6.0%} "
            f"[{lo:4.0%}, {hi:4.0%}] {r['median_coverage']:9.2f}  {fails}"
        )
    return "\n".join(lines)


def format_policy_timing(status: dict[str, Any], sim_time: bool = False) -> str:
    """One line from a policy node's /policy/status: touch capture -> target (for the touch sample each target
    was decoded with, transport included), in-node fast path, tick jitter, planner latency.

    `sim_time`: the node ran on the sim's clock, whose steps are coarser than this latency, so the touch capture ->
    target figure (a difference of two sim-time stamps) is left out; the in-node figures are in wall time. The tick
    jitter is too, but there the ticks follow the sim's touch stream, which runs at the sim's speed, not in real
    time: it is labelled so."""

    def g(key: str) -> float:
        v = status.get(key)
        return float(v) if isinstance(v, (int, float)) else float("nan")

    touch = (
        "touch capture -> target: not measurable in sim time (bench/bench_policy_ros.py measures it); "
        if sim_time
        else f"touch capture -> target published p50 {g('touch_to_target_ms_p50'):.2f} ms, "
        f"p99 {g('touch_to_target_ms_p99'):.2f} ms; "
    )
    return (
        touch + f"fast path in node (tick -> target published) p50 {g('fast_path_ms_p50'):.2f} ms, "
        f"p99 {g('fast_path_ms_p99'):.2f} ms; tick jitter p99 {g('fast_jitter_ms_p99'):.1f} ms"
        f"{' (ticks paced by the sim, not real time)' if sim_time else ''}; "
        f"planner p50 {g('planner_ms_p50'):.0f} ms"
    )
