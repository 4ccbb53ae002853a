"""Command watchdog: under policy/teleop control, no fresh target within the timeout -> hold."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class CommandWatchdog:
    """Armed by each accepted target; `expired` fires once per silence, then disarms until the next target."""

    timeout_s: float
    _last_feed: float | None = None

    def __post_init__(self) -> None:
        if not self.timeout_s > 0:
            raise ValueError(f"watchdog timeout must be > 0 s, got {self.timeout_s}")

    def feed(self, now_s: float) -> None:
        self._last_feed = now_s

    def disarm(self) -> None:
        self._last_feed = None

    @property
    def armed(self) -> bool:
        return self._last_feed is not None

    def expired(self, now_s: float) -> bool:
        """True once when `timeout_s` passed since the last target; disarms itself."""
        if self._last_feed is not None and now_s - self._last_feed > self.timeout_s:
            self._last_feed = None
            return True
        return False
