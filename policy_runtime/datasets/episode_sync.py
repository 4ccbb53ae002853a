"""Resample one recorded episode onto a fixed-rate grid by header stamps, with an explicit sync rule.

The rule (the same one the policy runs live, `policy_runtime.obs_sync.ObsSync`):

- Sensor streams (cameras, tactile, TCP pose, gripper state, wrench) are aligned **latest-before**:
  at grid time t each stream gives its newest sample stamped at or before t. The tick is valid only
  if every such sample is at most `max_age_s` older than t and their stamps span at most
  `max_skew_s`. An episode with any invalid tick is **flagged** (with the reason and where).
- Command streams (target pose, gripper command) are **zero-order held**: the newest command
  stamped at or before t, however old (a command holds until it is replaced); no skew rule.
- The grid runs at `rate_hz` from the first time every sensor stream and every required command
  stream has a sample, to the last sensor stamp.

Drops are reported per stream from the stamps: gaps longer than 1.5x the stream's median period.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from policy_runtime.obs_sync import ObsSync


@dataclass
class StreamGaps:
    """Stamp regularity of one stream."""

    count: int
    rate_hz: float
    median_period_s: float
    max_gap_s: float
    gaps: int  # intervals longer than 1.5x the median period
    missing_estimate: int  # samples those gaps would have held
    non_monotonic: int


@dataclass
class EpisodeSync:
    """The grid of one episode and, per tick, which sample of each stream it uses."""

    ticks: np.ndarray
    picks: dict[str, np.ndarray]
    skew_s: np.ndarray
    ok: np.ndarray
    reasons: Counter = field(default_factory=Counter)
    flags: list[str] = field(default_factory=list)
    gaps: dict[str, StreamGaps] = field(default_factory=dict)

    @property
    def flagged(self) -> bool:
        return bool(self.flags)

    def report(self) -> dict:
        """JSON-able per-episode sync report."""
        sk = self.skew_s * 1e3 if self.skew_s.size else np.zeros(1)
        return {
            "ticks": int(self.ticks.size),
            "skew_ms": {
                "p50": float(np.percentile(sk, 50)),
                "p99": float(np.percentile(sk, 99)),
                "max": float(sk.max()),
            },
            "invalid_ticks": {k: int(v) for k, v in self.reasons.items() if k != "ok"},
            "flags": list(self.flags),
            "streams": {k: vars(v) for k, v in self.gaps.items()},
        }


def stream_gaps(stamps: np.ndarray) -> StreamGaps:
    """Rate, largest gap and estimated missing samples of one stream, from its stamps."""
    n = int(stamps.size)
    if n < 2:
        return StreamGaps(n, 0.0, float("nan"), float("nan"), 0, 0, 0)
    d = np.diff(stamps)
    s = np.sort(stamps)
    ds = np.diff(s)
    med = float(np.median(ds))
    long = ds > 1.5 * med if med > 0 else np.zeros_like(ds, dtype=bool)
    missing = int(np.sum(np.round(ds[long] / med) - 1)) if med > 0 else 0
    span = float(s[-1] - s[0])
    return StreamGaps(
        count=n,
        rate_hz=(n - 1) / span if span > 0 else 0.0,
        median_period_s=med,
        max_gap_s=float(ds.max()),
        gaps=int(long.sum()),
        missing_estimate=missing,
        non_monotonic=int(np.sum(d <= 0)),
    )


def sync_episode(
    sensors: dict[str, np.ndarray],
    commands: dict[str, np.ndarray],
    rate_hz: float,
    max_skew_s: float,
    max_age_s: float | None = None,
    required_commands: tuple[str, ...] = (),
) -> EpisodeSync:
    """Resample an episode given each stream's stamps (seconds, in read order)."""
    if not rate_hz > 0:
        raise ValueError(f"rate_hz must be > 0, got {rate_hz}")
    if not sensors:
        raise ValueError("sync_episode needs at least one sensor stream")
    max_age = max_skew_s if max_age_s is None else max_age_s
    gaps = {k: stream_gaps(v) for k, v in {**sensors, **commands}.items()}
    empty = [k for k, v in sensors.items() if v.size == 0] + [
        k for k in required_commands if commands.get(k, np.zeros(0)).size == 0
    ]
    if empty:
        return EpisodeSync(
            np.zeros(0),
            {},
            np.zeros(0),
            np.zeros(0, dtype=bool),
            flags=[f"no messages on {', '.join(empty)}"],
            gaps=gaps,
        )
    sync = ObsSync(list(sensors), max_skew_s=max_skew_s, max_age_s=max_age, history=None)
    for name, st in sensors.items():
        for i, s in enumerate(st):
            sync.push(name, float(s), i)
    t0 = max(float(v.min()) for v in sensors.values())
    for k in required_commands:
        t0 = max(t0, float(commands[k].min()))
    t1 = max(float(v.max()) for v in sensors.values())
    n = int(np.floor((t1 - t0) * rate_hz + 1e-9)) + 1 if t1 >= t0 else 0
    ticks = t0 + np.arange(n) / rate_hz
    picks = {k: np.zeros(n, dtype=np.int64) for k in (*sensors, *commands)}
    skew = np.zeros(n)
    ok = np.zeros(n, dtype=bool)
    reasons: Counter = Counter()
    first_bad: dict[str, str] = {}
    for j, t in enumerate(ticks):
        r = sync.query(float(t))
        for k, idx in r.values.items():
            picks[k][j] = idx
        skew[j] = r.skew_s
        ok[j] = r.ok
        reasons[r.reason or "ok"] += 1
        if not r.ok and r.reason not in first_bad:
            first_bad[r.reason] = f"{r.reason} at t={t - t0:.3f}s: {r.detail}"
    for k, st in commands.items():
        if st.size == 0:  # an optional command never sent (e.g. no gripper command): no pick at any tick
            picks[k] = np.full(n, -1, dtype=np.int64)
            continue
        order = np.argsort(st, kind="stable")
        pos = np.searchsorted(st[order], ticks, side="right") - 1
        picks[k] = np.where(pos >= 0, order[np.clip(pos, 0, None)], -1)
    flags = [f"{reasons[k]} of {n} ticks invalid: first {v}" for k, v in first_bad.items()]
    return EpisodeSync(ticks, picks, skew, ok, reasons, flags, gaps)
