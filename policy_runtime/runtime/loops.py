"""The two threads of the policy: the planner loop (slow) and the fast loop (control rate).

Both are paced by `hardware.timing.CycleTimer`. They share nothing but the `PlanSlot`, so a slow or stuck
planner can delay plans (which then expire and make the fast loop hold) but never delays a fast tick.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np

from hardware.realtime import drop_realtime, step_below_realtime
from hardware.timing import CycleTimer, SampleRing
from policy_runtime.runtime.plan import Plan, PlanSlot
from policy_runtime.runtime.reactive import ReactiveRuntime, TickResult


class PlannerLoop(threading.Thread):
    """Calls `plan_fn` at `rate_hz`; a Plan is posted, a str is a reason to hold, an exception is counted.

    `bulk`: `plan_fn` runs the networks in this thread, which then drops real-time scheduling. Otherwise (the
    networks run in a child process) this thread only assembles observations and waits: it stays real-time one
    priority below the thread that started it, so it is never descheduled while holding the GIL.

    `on_post` is called after each plan is posted (the runner tells the fast loop: `FastLoop.plan_posted`).

    `pace_clock`: the clock the rate is kept in (default: monotonic). The policy runner gives the node's clock, so
    in sim the planner steps at `rate_hz` of sim time whatever the sim's speed on this machine: the steps per
    episode, and so the failure monitor's windows, do not depend on the machine's load. It is polled every 10 ms
    at most while the wait runs, and a wait never exceeds one period (a clock that jumps back cannot stall it).
    """

    def __init__(
        self,
        plan_fn: Callable[[], Plan | str],
        slot: PlanSlot,
        rate_hz: float,
        clock: Callable[[], float] = time.monotonic,
        bulk: bool = True,
        pace_clock: Callable[[], float] | None = None,
        on_post: Callable[[], None] = lambda: None,
    ) -> None:
        super().__init__(name="planner", daemon=True)
        self.bulk = bulk
        self.on_post = on_post
        self.plan_fn = plan_fn
        self.slot = slot
        self._halt = threading.Event()
        if pace_clock is None:
            self.timer = CycleTimer(rate_hz, sleep=self._halt.wait)
        else:
            self.timer = CycleTimer(rate_hz, clock=pace_clock, sleep=self._sleep_on(pace_clock))
        self.clock = clock
        self.last_reason = "starting"
        self.errors = 0
        self.last_error = ""
        self.latencies_s = SampleRing(1000)

    def run(self) -> None:
        if self.bulk:
            drop_realtime()  # bulk work: never ahead of the fast loop, even when started by a real-time thread
        else:
            step_below_realtime()
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
                if self.slot.post(out):
                    self.on_post()
                self.latencies_s.append(self.clock() - t0)
                self.last_reason = ""
            else:
                self.last_reason = out
            self.timer.wait()

    def _sleep_on(self, clock: Callable[[], float]) -> Callable[[float], None]:
        def sleep(seconds: float) -> None:
            end = clock() + min(seconds, self.timer.period_s)
            while not self._halt.is_set():
                left = end - clock()
                if left <= 0:
                    return
                self._halt.wait(min(left, 0.01))

        return sleep

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

    `prewarm` (e.g. `ReactiveRuntime.warm`) runs `prewarm_s` before each tick is due, and again every `prewarm_s`
    while a touch is late (at most `MAX_PREWARMS` times per wait). A tick's code and data fall out of the caches in
    the 40 ms between two ticks at 24 Hz: on this project's 2-core VM a tick then costs 0.52 ms instead of 0.08 ms
    back to back, and 0.34 ms when warmed 1 ms ahead (bench/bench_policy.py). A failing `prewarm` is switched off
    (the tick reports its own errors).

    `prepare` (e.g. `ReactiveRuntime.prepare`) takes a new plan between ticks: `plan_posted()` (from the planner's
    thread) wakes the loop, which runs it at once unless a tick is due within `PREPARE_MARGIN_S` (+ `prewarm_s`); that
    tick then takes the plan itself. At 24 Hz with a 6 Hz planner one tick in four used to start a new plan and
    catch its decoder up over the ~5 steps since the plan's observation, on the touch -> target path. Without
    `serve_while_waiting` the plan waits for the loop's next wake-up (a prewarm or a tick).
    """

    MAX_PREWARMS = 4
    PREPARE_MARGIN_S = 0.002

    def __init__(
        self,
        runtime: ReactiveRuntime,
        rate_hz: float,
        publish: Callable[[np.ndarray, TickResult], None],
        hold: Callable[[str], None],
        now: Callable[[], float],
        measured_xyz: Callable[[], np.ndarray | None] = lambda: None,
        grace: float = 0.25,
        prewarm: Callable[[], None] | None = None,
        prewarm_s: float = 0.0,
        prepare: Callable[[], object] | None = None,
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
        self.prewarm = prewarm if prewarm_s > 0 else None
        self.prewarm_s = min(prewarm_s, 0.5 * self.period_s)
        self.prewarms = 0
        self.prewarm_error = ""
        self.prepare = prepare
        self.prepare_error = ""
        self.prepared = 0  # plans taken between ticks
        self._plan_waiting = False
        self._halt = threading.Event()
        self._wake = threading.Event()
        self._spin_once: Callable[[float], None] | None = None
        self._interrupt: Callable[[], None] = lambda: None
        self._next: float | None = None
        self.triggered = 0
        self.ticks = 0
        self.wakeups = SampleRing(5000)
        self.path_ms = SampleRing(5000)  # tick wake-up -> target handed to publish, per sent target
        self.sent = 0
        self.held = 0

    def trigger(self) -> None:
        self._wake.set()

    def plan_posted(self) -> None:
        """A new plan is in the slot (any thread): take it between ticks rather than in the next one."""
        self._plan_waiting = True
        self._interrupt()

    def serve_while_waiting(self, spin_once: Callable[[float], None], interrupt: Callable[[], None]) -> None:
        """Receive messages in this thread between ticks (call before `start`).

        `spin_once(timeout_s)` handles at most one incoming message (e.g. `rstack.message_waiter.MessageWaiter` with
        the touch, pose and gripper subscriptions) or returns after the timeout; `interrupt()` ends such a wait
        early. A touch handled there triggers its tick right here, with no hand-off to another thread and no queue
        behind other callbacks. Triggers from other threads still work, but wait for the message source's next
        wake-up.
        """
        self._spin_once = spin_once
        self._interrupt = interrupt

    def _wait_wake(self, timeout: float) -> bool:
        if self._spin_once is None:
            return self._wake.wait(timeout)
        if not self._wake.is_set():
            self._spin_once(timeout)
        return self._wake.is_set()

    def _wait_next(self, last_tick: float, after_trigger: bool) -> bool:
        """Sleep until the next period boundary (plus the grace after a triggered tick), or until a trigger (at
        least half a period after `last_tick` if that tick was triggered). True if a trigger ended the wait."""
        if self._next is None or self._next < last_tick - self.period_s:  # first tick, or fell behind: re-phase
            self._next = last_tick
        self._next += self.period_s
        deadline = self._next + (self.grace_s if after_trigger else 0.0)
        warm_at = self._next - self.prewarm_s if self.prewarm is not None else float("inf")
        warms = 0
        while not self._halt.is_set():
            now = time.monotonic()
            if now >= deadline:
                self._next = deadline  # a full period to the next tick, not period - grace
                return False
            if self._plan_waiting:
                self._plan_waiting = False
                if self.prepare is not None and now < self._next - self.prewarm_s - self.PREPARE_MARGIN_S:
                    self._prepare()
                    continue
            if now >= warm_at:
                self._warm()
                warms += 1
                again = warms < self.MAX_PREWARMS and self.prewarm is not None
                warm_at = now + self.prewarm_s if again else float("inf")
                continue
            if self._wait_wake(min(deadline, warm_at) - now):
                self._wake.clear()
                if self._halt.is_set():  # `stop` wakes the loop too: not a touch
                    return False
                now = time.monotonic()
                if not after_trigger or now - last_tick >= 0.5 * self.period_s:
                    self.triggered += 1
                    self._next = now  # the schedule follows the touch stream from here
                    return True
        return False

    def _prepare(self) -> None:
        assert self.prepare is not None
        try:
            self.prepare()
            self.prepared += 1
        except Exception as exc:  # the tick takes the plan itself, and reports its own errors
            self.prepare_error = f"{type(exc).__name__}: {exc}"
            self.prepare = None

    def _warm(self) -> None:
        assert self.prewarm is not None
        try:
            self.prewarm()
            self.prewarms += 1
        except Exception as exc:  # warming is an optimisation: never a reason to stop ticking
            self.prewarm_error = f"{type(exc).__name__}: {exc}"
            self.prewarm = None

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
        self._interrupt()

    def jitter_ms(self) -> np.ndarray:
        """|actual tick interval - period| in ms, over the recorded wakeups."""
        w = self.wakeups.values()
        if w.size < 2:
            return np.zeros(0)
        return np.abs(np.diff(w) - self.timer.period_s) * 1e3
