"""The two threads of the policy: the planner loop (slow) and the fast loop (control rate).

Both are paced by `hardware.timing.CycleTimer`. They share nothing but the `PlanSlot`, so a slow or stuck
planner can delay plans (which then expire and make the fast loop hold) but never delays a fast tick.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

import numpy as np

from hardware.realtime import drop_realtime
from hardware.timing import CycleTimer
from policy_runtime.runtime.plan import Plan, PlanSlot
from policy_runtime.runtime.reactive import ReactiveRuntime, TickResult


class PlannerLoop(threading.Thread):
    """Calls `plan_fn` at `rate_hz`; a Plan is posted, a str is a reason to hold, an exception is counted."""

    def __init__(
        self,
        plan_fn: Callable[[], Plan | str],
        slot: PlanSlot,
        rate_hz: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(name="planner", daemon=True)
        self.plan_fn = plan_fn
        self.slot = slot
        self.timer = CycleTimer(rate_hz)
        self.clock = clock
        self._halt = threading.Event()
        self.last_reason = "starting"
        self.errors = 0
        self.last_error = ""
        self.latencies_s: deque[float] = deque(maxlen=1000)

    def run(self) -> None:
        drop_realtime()  # bulk work: never ahead of the fast loop, even when started by a real-time thread
        while not self._halt.is_set():
            t0 = self.clock()
            with self.timer.section("plan"):
                try:
                    out = self.plan_fn()
                except Exception as exc:  # a bad step must not kill the loop; plans then expire and we hold
                    self.errors += 1
                    self.last_error = f"{type(exc).__name__}: {exc}"
                    out = f"planner error: {self.last_error}"
            if isinstance(out, Plan):
                self.slot.post(out)
                self.latencies_s.append(self.clock() - t0)
                self.last_reason = ""
            else:
                self.last_reason = out
            self.timer.wait()

    def stop(self) -> None:
        self._halt.set()


class FastLoop(threading.Thread):
    """Ticks the runtime at `rate_hz`; sends targets through `publish`, reasons to hold through `hold`.

    `trigger()` (called when a touch sample arrives) runs the next tick at once instead of at the next
    period boundary and re-phases the schedule on it: with a touch sensor at the control rate, each tick then
    decodes the newest touch within the transport delay, not up to a whole period later. After a triggered
    tick, a trigger less than half a period later is left to the schedule (a touch stream faster than the
    control rate does not tick on every sample); after a timer tick, which ran on older touch, it always runs
    at once. (Ignoring it there let the timer lock in just ahead of a touch stream at the same rate: every
    touch then waited a whole period, 0 % of ticks on touch with a real-time timer.) After a triggered tick the
    timer waits `grace` of a period longer for the next trigger, so a touch sample delivered a little late
    still runs its own tick. Without triggers it is a plain fixed-rate loop.
    """

    def __init__(
        self,
        runtime: ReactiveRuntime,
        rate_hz: float,
        publish: Callable[[np.ndarray, TickResult], None],
        hold: Callable[[str], None],
        now: Callable[[], float],
        measured_xyz: Callable[[], np.ndarray | None] = lambda: None,
        grace: float = 0.25,
    ) -> None:
        super().__init__(name="fast-head", daemon=True)
        self.runtime = runtime
        self.publish = publish
        self.hold = hold
        self.now = now
        self.measured_xyz = measured_xyz
        self.timer = CycleTimer(rate_hz)
        self.period_s = 1.0 / rate_hz
        self.grace_s = grace * self.period_s
        self._halt = threading.Event()
        self._wake = threading.Event()
        self._next: float | None = None
        self.triggered = 0
        self.ticks = 0
        self.wakeups: deque[float] = deque(maxlen=5000)
        self.path_ms: deque[float] = deque(maxlen=5000)  # tick wake-up -> target handed to publish, per sent target
        self.sent = 0
        self.held = 0

    def trigger(self) -> None:
        self._wake.set()

    def _wait_next(self, last_tick: float, after_trigger: bool) -> bool:
        """Sleep until the next period boundary (plus the grace after a triggered tick), or until a trigger (at
        least half a period after `last_tick` if that tick was triggered). True if a trigger ended the wait."""
        if self._next is None or self._next < last_tick - self.period_s:  # first tick, or fell behind: re-phase
            self._next = last_tick
        self._next += self.period_s
        deadline = self._next + (self.grace_s if after_trigger else 0.0)
        while not self._halt.is_set():
            now = time.monotonic()
            if now >= deadline:
                self._next = deadline  # a full period to the next tick, not period - grace
                return False
            if self._wake.wait(deadline - now):
                self._wake.clear()
                if self._halt.is_set():  # `stop` wakes the loop too: not a touch
                    return False
                now = time.monotonic()
                if not after_trigger or now - last_tick >= 0.5 * self.period_s:
                    self.triggered += 1
                    self._next = now  # the schedule follows the touch stream from here
                    return True
        return False

    def run(self) -> None:
        triggered = False
        while not self._halt.is_set():
            last_tick = time.monotonic()
            self.wakeups.append(last_tick)
            self.ticks += 1
            with self.timer.section("tick"):
                result = self.runtime.tick(self.now(), self.measured_xyz())
            with self.timer.section("send"):
                if result.target is not None:
                    self.publish(result.target, result)
                    self.sent += 1
                    self.path_ms.append((time.monotonic() - last_tick) * 1e3)
                else:
                    self.hold(result.reason or "hold")
                    self.held += 1
            triggered = self._wait_next(last_tick, triggered)

    def stop(self) -> None:
        self._halt.set()
        self._wake.set()

    def jitter_ms(self) -> np.ndarray:
        """|actual tick interval - period| in ms, over the recorded wakeups."""
        w = np.asarray(self.wakeups)
        if w.size < 2:
            return np.zeros(0)
        return np.abs(np.diff(w) - self.timer.period_s) * 1e3
