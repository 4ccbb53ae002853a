"""One observation buffer that aligns cameras, tactile and arm state by their capture stamps (ROS-free).

Shared by the policy node (live, `query(now)`) and the dataset builder (offline, `query(t)` over a
recorded episode). Each stream keeps a short, stamp-sorted history; `query(t)` takes from every
stream the newest sample stamped at or before `t` and accepts the set only if

- every required stream has such a sample              (else: `missing`),
- each sample is at most `max_age_s` older than `t`    (else: `stale`; per-stream override),
- the chosen stamps span at most `max_skew_s`           (else: `skew`).

A refusal is a result, not an exception: it names the reason and the streams at fault, so the policy
can hold the arm and say why. Every query's skew is recorded for `skew_stats()` (diagnostics, bench).

Written by hand (no `message_filters` here, and its ApproximateTime policy emits sets on arrival
rather than answering "what was true at t", which the fixed-rate policy and the dataset builder need).
"""

from __future__ import annotations

import bisect
import math
import threading
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class StreamSpec:
    """One stream of the buffer: its name, an optional own max age, and whether a sample needs it."""

    name: str
    max_age_s: float | None = None
    required: bool = True


@dataclass(frozen=True)
class SyncResult:
    """The answer to `query(t)`: an aligned sample, or the reason there is none.

    `values`/`stamps`/`ages_s` hold what was found (also on a refusal, for diagnostics).
    `reason` is "" when `ok`, else one of "missing", "stale", "skew" (the first that applies),
    with `detail` naming the streams and numbers.
    """

    t: float
    ok: bool
    values: dict[str, Any]
    stamps: dict[str, float]
    ages_s: dict[str, float]
    skew_s: float
    reason: str = ""
    detail: str = ""
    missing: tuple[str, ...] = ()
    stale: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return self.ok


@dataclass
class _History:
    stamps: list[float] = field(default_factory=list)
    values: list[Any] = field(default_factory=list)


class ObsSync:
    """Latest-before-t alignment of named streams with a max-skew and a max-age rule. Thread-safe.

    `history` bounds each stream's buffer (samples); `None` keeps everything (offline use).
    """

    def __init__(
        self,
        streams: Iterable[str | StreamSpec],
        max_skew_s: float = 0.1,
        max_age_s: float = 0.25,
        history: int | None = 64,
        keep_skews: int = 10_000,
    ) -> None:
        specs = [s if isinstance(s, StreamSpec) else StreamSpec(str(s)) for s in streams]
        if not specs:
            raise ValueError("ObsSync needs at least one stream")
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate stream names in {names}")
        for label, v in (("max_skew_s", max_skew_s), ("max_age_s", max_age_s)):
            if not (v >= 0 and math.isfinite(v)):
                raise ValueError(f"{label} must be a finite number >= 0, got {v!r}")
        if history is not None and history < 1:
            raise ValueError(f"history must be >= 1 or None, got {history}")
        self.specs: dict[str, StreamSpec] = {s.name: s for s in specs}
        self.max_skew_s = float(max_skew_s)
        self.max_age_s = float(max_age_s)
        self.history = history
        self._buf: dict[str, _History] = {n: _History() for n in names}
        self._lock = threading.Lock()
        self._skews: deque[float] = deque(maxlen=keep_skews)
        self.reasons: Counter[str] = Counter()
        self.pushed: Counter[str] = Counter()
        self.out_of_order: Counter[str] = Counter()

    @property
    def streams(self) -> list[str]:
        return list(self.specs)

    # ------------------------------------------------------------------ input
    def push(self, stream: str, stamp_s: float, value: Any) -> None:
        """Add one sample of `stream` captured at `stamp_s` (seconds, the message header stamp).

        A late (out-of-order) sample is inserted at its place; a repeated stamp replaces the earlier value.
        """
        if stream not in self._buf:
            raise KeyError(f"unknown stream {stream!r} (streams: {', '.join(self._buf)})")
        stamp = float(stamp_s)
        if not math.isfinite(stamp):
            raise ValueError(f"stream {stream!r}: stamp must be finite, got {stamp_s!r}")
        with self._lock:
            h = self._buf[stream]
            self.pushed[stream] += 1
            if not h.stamps or stamp > h.stamps[-1]:
                h.stamps.append(stamp)
                h.values.append(value)
            else:
                i = bisect.bisect_left(h.stamps, stamp)
                if i < len(h.stamps) and h.stamps[i] == stamp:
                    h.values[i] = value
                else:
                    self.out_of_order[stream] += 1
                    h.stamps.insert(i, stamp)
                    h.values.insert(i, value)
            if self.history is not None and len(h.stamps) > self.history:
                extra = len(h.stamps) - self.history
                del h.stamps[:extra]
                del h.values[:extra]

    def clear(self) -> None:
        """Forget every sample (e.g. at an episode boundary); statistics are kept."""
        with self._lock:
            for h in self._buf.values():
                h.stamps.clear()
                h.values.clear()

    # ------------------------------------------------------------------ queries
    def newest_stamp(self, stream: str) -> float | None:
        with self._lock:
            h = self._buf[stream]
            return h.stamps[-1] if h.stamps else None

    def query(self, t: float) -> SyncResult:
        """The aligned sample at time `t` (each stream's newest sample stamped <= t), or why there is none."""
        t = float(t)
        if not math.isfinite(t):
            raise ValueError(f"query time must be finite, got {t!r}")
        values: dict[str, Any] = {}
        stamps: dict[str, float] = {}
        missing: list[str] = []
        with self._lock:
            for name, h in self._buf.items():
                i = bisect.bisect_right(h.stamps, t) - 1
                if i < 0:
                    if self.specs[name].required:
                        missing.append(name)
                    continue
                stamps[name] = h.stamps[i]
                values[name] = h.values[i]
        ages = {n: t - s for n, s in stamps.items()}
        stale = [
            n
            for n, a in ages.items()
            if a > (self.specs[n].max_age_s if self.specs[n].max_age_s is not None else self.max_age_s)
        ]
        skew = (max(stamps.values()) - min(stamps.values())) if len(stamps) > 1 else 0.0
        reason, detail = "", ""
        if missing:
            reason = "missing"
            detail = f"no sample at or before t={t:.6f} from: {', '.join(missing)}"
        elif stale:
            reason = "stale"
            detail = "; ".join(f"{n} is {ages[n] * 1e3:.1f} ms old" for n in stale)
        elif skew > self.max_skew_s:
            reason = "skew"
            lo = min(stamps, key=stamps.__getitem__)
            hi = max(stamps, key=stamps.__getitem__)
            detail = f"stamps span {skew * 1e3:.1f} ms > max {self.max_skew_s * 1e3:.1f} ms (oldest {lo}, newest {hi})"
        with self._lock:
            if len(stamps) > 1:
                self._skews.append(skew)
            self.reasons[reason or "ok"] += 1
        return SyncResult(
            t=t,
            ok=not reason,
            values=values,
            stamps=stamps,
            ages_s=ages,
            skew_s=skew,
            reason=reason,
            detail=detail,
            missing=tuple(missing),
            stale=tuple(stale),
        )

    def query_latest(self) -> SyncResult:
        """Align at the newest stamp any stream has (what is current, by the sensors' own clocks)."""
        with self._lock:
            newest = [h.stamps[-1] for h in self._buf.values() if h.stamps]
        if not newest:
            return SyncResult(
                t=float("nan"),
                ok=False,
                values={},
                stamps={},
                ages_s={},
                skew_s=0.0,
                reason="missing",
                detail="no stream has any sample yet",
                missing=tuple(n for n, s in self.specs.items() if s.required),
            )
        return self.query(max(newest))

    # ------------------------------------------------------------------ statistics
    def skew_stats(self) -> dict[str, float]:
        """Skew seen by past queries (ms): count, median, p99, max; and the share of refused queries."""
        with self._lock:
            sk = np.asarray(self._skews, dtype=float) * 1e3
            total = sum(self.reasons.values())
            refused = total - self.reasons.get("ok", 0)
        if sk.size == 0:
            return {"count": 0.0, "p50_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0, "refused_frac": 0.0}
        return {
            "count": float(sk.size),
            "p50_ms": float(np.percentile(sk, 50)),
            "p99_ms": float(np.percentile(sk, 99)),
            "max_ms": float(sk.max()),
            "refused_frac": refused / total if total else 0.0,
        }

    def report(self) -> Mapping[str, str]:
        """Key/values for a diagnostics status."""
        st = self.skew_stats()
        out = {f"skew_{k}": f"{v:.3f}" for k, v in st.items() if k != "count"}
        out["queries"] = str(int(sum(self.reasons.values())))
        for reason, n in sorted(self.reasons.items()):
            out[f"result_{reason}"] = str(n)
        return out
