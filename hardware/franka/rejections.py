"""Counts of rejected commands by reason, with burst detection so a flood is logged once, not per message."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class RejectionLog:
    """Rejections by reason. `record` returns True only for the first rejection of a burst of one reason.

    A burst ends after `burst_gap_s` without a rejection of that reason.
    """

    burst_gap_s: float = 1.0
    counts: Counter = field(default_factory=Counter)
    last_reason: str = ""
    last_detail: str = ""
    _last_seen: dict[str, float] = field(default_factory=dict)
    _burst: Counter = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, reason: str, detail: str, now_s: float) -> bool:
        with self._lock:
            self.counts[reason] += 1
            self.last_reason, self.last_detail = reason, detail
            prev = self._last_seen.get(reason)
            self._last_seen[reason] = now_s
            new_burst = prev is None or now_s - prev > self.burst_gap_s
            self._burst[reason] = 1 if new_burst else self._burst[reason] + 1
            return new_burst

    def burst_size(self, reason: str) -> int:
        return self._burst[reason]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def report(self) -> dict[str, str]:
        """Key/values for /diagnostics: total, per reason, and the last one."""
        with self._lock:
            out = {"rejected_total": str(sum(self.counts.values()))}
            out.update({f"rejected.{k}": str(v) for k, v in sorted(self.counts.items())})
            if self.last_reason:
                out["last_rejection"] = f"{self.last_reason}: {self.last_detail}"
            return out
