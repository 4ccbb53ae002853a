"""The fast head's scheduling: latency compensation, touch re-decoding, latest-wins, holds, guard."""

from __future__ import annotations

import itertools
import threading
import time

import numpy as np
import pytest

from policy_runtime.runtime import (
    ActionGuard,
    FastLoop,
    GuardLimits,
    Plan,
    PlannerLoop,
    PlanSlot,
    ReactiveRuntime,
    TouchHistory,
)

RATE = 24.0
DT = 1.0 / RATE
BASE = np.array([0.5, 0.0, 0.2, 0.0, 0.0, 0.0, 1.0])


class RecordingHead:
    """A decoder with the FastHead interface whose output is a known function of its inputs.

    action_k = latent[k] + touch_k[0] * [0, 0, 1e-3]; it records the touch vector of every step.
    """

    horizon = 16

    def __init__(self) -> None:
        self.seen: list[float] = []
        self.latent = np.zeros((self.horizon, 3))
        self.k = 0

    def start(self, latent):
        self.latent, self.k = latent, 0

    def step(self, touch):
        self.seen.append(float(touch[0]))
        self.k += 1
        return self.latent[self.k - 1] + touch[0] * np.array([0.0, 0.0, 1e-3])

    def restep(self, touch):
        self.k -= 1
        return self.step(touch)

    def warm(self):
        self.warms = getattr(self, "warms", 0) + 1
        return self.latent[min(self.k, self.horizon - 1)]


def _runtime(head=None, max_jump=0.03, blend_s=0.0):
    head = head or RecordingHead()
    slot, touch = PlanSlot(), TouchHistory(dim=2)
    guard = ActionGuard(GuardLimits(max_jump_m=max_jump))
    rt = ReactiveRuntime(
        head, slot, touch, RATE, head.horizon, guard, switch_blend_s=blend_s, max_switch_offset_m=2 * max_jump
    )
    return rt, head, slot, touch


def _latent(step_m=0.001):
    return np.stack([np.array([step_m * k, 0.0, 0.0]) for k in range(RecordingHead.horizon)])


def test_holds_without_plan_or_touch():
    rt, _, slot, touch = _runtime()
    assert rt.tick(10.0).reason == "no plan yet"
    slot.post(Plan(_latent(), 10.0, BASE, seq=1))
    assert rt.tick(10.0).reason == "no touch signal yet"
    touch.push(9.0, np.zeros(2))
    assert rt.tick(10.0).reason.startswith("touch stale")


def test_a_control_rate_above_the_action_rate_redecodes_the_current_step_with_fresh_touch():
    """Ticks at 4x the action rate: the chunk still advances one step per action period (as trained), and each
    tick in between decodes the current step again with the touch that arrived since, from the same state."""
    rt, head, slot, touch = _runtime()
    obs = 100.0
    touch.push(obs, np.array([0.0, 0.0]))
    slot.post(Plan(_latent(), obs, BASE, seq=1))
    steps, zs = [], []
    for i in range(8):  # two action periods, four ticks each, a new touch sample before every tick
        now = obs + i * DT / 4 + 1e-4
        touch.push(now - 1e-5, np.array([float(i), 0.0]))
        res = rt.tick(now)
        assert res.reason is None, res.reason
        steps.append(res.step)
        zs.append(res.target[2] - BASE[2])
    assert steps == [0, 0, 0, 0, 1, 1, 1, 1]
    # Every tick decoded with the touch of its own time (value i), including the ticks between action steps.
    np.testing.assert_allclose(zs, [i * 1e-3 for i in range(8)], atol=1e-12)
    assert head.k == 2  # two action steps decoded, the re-decodes replaced the current one
    n = len(head.seen)
    assert rt.tick(obs + 7 * DT / 4 + 2e-4).decoder_steps == 0 and len(head.seen) == n  # no new touch: no decode


def test_step_index_follows_time_since_the_observation_stamp():
    rt, head, slot, touch = _runtime()
    obs = 100.0
    for k in range(8):  # touch recorded at each control step since the observation: value = k
        touch.push(obs + k * DT, np.array([float(k), 0.0]))
    slot.post(Plan(_latent(), obs, BASE, seq=1))
    now = obs + 5.5 * DT  # the plan arrives 5.5 periods after its observation (planner latency)
    res = rt.tick(now)
    assert res.reason is None and res.step == 5 and res.decoder_steps == 6
    # Steps 0..4 were re-decoded with the touch frames of their own times; step 5 with the newest.
    assert head.seen == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    np.testing.assert_allclose(res.target[:3], BASE[:3] + np.array([0.005, 0.0, 0.005]))
    # Next period: exactly one more decoder step, fed the newest touch.
    touch.push(now + 0.5 * DT, np.array([9.0, 0.0]))
    res = rt.tick(now + DT)
    assert res.step == 6 and res.decoder_steps == 1 and head.seen[-1] == 9.0
    np.testing.assert_allclose(res.target[2], BASE[2] + 0.009)


def test_latest_plan_wins_and_an_older_observation_is_dropped():
    rt, _, slot, touch = _runtime()
    touch.push(1.0, np.zeros(2))
    assert slot.post(Plan(_latent(), 1.0, BASE, seq=1))
    rt.tick(1.0)
    assert slot.post(Plan(_latent(0.002), 1.2, BASE, seq=2))
    assert not slot.post(Plan(_latent(), 1.1, BASE, seq=3))  # planned from an older observation
    assert slot.dropped_stale == 1
    touch.push(1.2, np.zeros(2))
    res = rt.tick(1.2 + 2 * DT)
    assert res.plan_seq == 2 and res.step == 2
    np.testing.assert_allclose(res.target[0], BASE[0] + 0.004)


def test_expired_plan_holds():
    rt, _, slot, touch = _runtime()
    slot.post(Plan(_latent(), 0.0, BASE, seq=1))
    touch.push(RecordingHead.horizon * DT, np.zeros(2))
    res = rt.tick(RecordingHead.horizon * DT + 0.001)
    assert res.target is None and res.reason.startswith("plan 1 expired")


def test_nan_and_jump_are_held_and_counted():
    rt, _, slot, touch = _runtime(max_jump=0.01)
    touch.push(0.0, np.zeros(2))
    bad = _latent()
    bad[1, 0] = np.nan
    slot.post(Plan(bad, 0.0, BASE, seq=1))
    assert rt.tick(0.0).target is not None
    res = rt.tick(DT)
    assert res.target is None and res.reason.startswith("non-finite")
    jumpy = _latent()
    jumpy[:, 0] = 0.05
    slot.post(Plan(jumpy, 0.1, BASE, seq=2))
    res = rt.tick(0.1)
    assert res.target is None and res.reason.startswith("jump: 50.0 mm")
    assert rt.guard.rejections == {"non-finite": 1, "jump": 1}


def test_warming_before_each_tick_changes_nothing_the_ticks_compute():
    """`warm` runs the tick's work on scratch data: with it before every tick, the same inputs give the same targets,
    holds, guard state and decoder inputs as without it, through plan switches, a NaN and a jump."""

    def run(warm: bool):
        rt, head, slot, touch = _runtime(max_jump=0.01, blend_s=0.1)
        out = []
        for i in range(40):
            now = i * DT / 2  # twice the action rate: steps and re-decodes
            touch.push(now - 0.001, np.array([0.1 * (i % 7), 0.0]))
            if i % 9 == 0:
                lat = _latent(0.002 * i)
                if i == 18:
                    lat[3, 0] = np.nan
                if i == 27:
                    lat[:, 0] += 0.05  # a jump the guard refuses
                slot.post(Plan(lat, now - 0.05, BASE, seq=i + 1))
            if warm:
                rt.warm(now)
            res = rt.tick(now)
            out.append((None if res.target is None else res.target.tolist(), res.reason, res.step))
        return out, head.seen, dict(rt.guard.rejections), getattr(head, "warms", 0)

    plain, warmed = run(False), run(True)
    assert warmed[:3] == plain[:3]
    assert warmed[3] == 40 and plain[3] == 0  # the head was warmed before every tick
    assert set(plain[2]) == {"non-finite", "jump"}, plain[2]  # the run went through both refusals


def test_taking_each_plan_between_ticks_leaves_the_tick_one_decoder_step_and_the_same_targets():
    """`prepare` between ticks starts a new plan and decodes its steps already past; the tick that uses the plan
    then decodes only its own step, and every tick computes what it would have without `prepare` (the same
    targets, holds, guard state and decoder inputs, in the same order), through plan switches, a NaN and a jump."""

    def run(prepare: bool):
        rt, head, slot, touch = _runtime(max_jump=0.01, blend_s=0.1)
        out, switch_steps = [], []
        seq = 0
        touch.push(9.0, np.array([0.7, 0.0]))  # touch from before the first plan's observation
        for i in range(60):
            now = 10.0 + i * DT / 2  # twice the action rate: steps and re-decodes
            if i % 9 == 0:  # posted between ticks, planned from an observation 170 ms old (~4 steps of catch-up)
                seq += 1
                lat = _latent(0.002)
                lat[:, 1] += 0.003 * seq  # each plan a little to the side: a switch to glide over
                if i == 18:
                    lat[6, 0] = np.nan  # reached two action steps after the switch
                if i == 27:
                    lat[:, 0] += 0.05  # a jump the guard refuses
                slot.post(Plan(lat, now - DT / 4 - 0.17, BASE, seq=seq))
            if prepare:
                rt.prepare(now - DT / 8)
            touch.push(now - 0.001, np.array([0.1 * (i % 7), 0.0]))  # this tick's touch, after the prepare
            res = rt.tick(now)
            out.append((None if res.target is None else res.target.tolist(), res.reason, res.step))
            if i % 9 == 0:
                switch_steps.append(res.decoder_steps)
        return out, head.seen, dict(rt.guard.rejections), switch_steps

    plain, prepared = run(False), run(True)
    assert prepared[:3] == plain[:3]
    assert set(plain[2]) == {"non-finite", "jump"}, plain[2]  # the run went through both refusals
    assert min(plain[3]) >= 4, plain[3]  # without it, a tick that switches plans catches up over 4+ steps
    assert set(prepared[3]) == {1}, prepared[3]  # with it, that tick decodes one step: its own


def test_prepare_leaves_an_expired_plan_and_steps_without_touch_to_the_tick():
    rt, head, slot, touch = _runtime()
    slot.post(Plan(_latent(), 10.0, BASE, seq=1))
    assert rt.prepare(10.0 + RecordingHead.horizon * DT) == 0 and head.seen == []  # expired by now: no work
    assert rt.prepare(10.0 + 5 * DT) == 0  # no touch at all yet: nothing to decode with
    touch.push(10.0 + 2.5 * DT, np.array([0.5, 0.0]))
    # Step 0 has no touch at its time (decoding is sequential, so nothing after it either): left to the tick, which
    # decodes steps 0-5 itself, the early ones with the oldest touch it has.
    assert rt.prepare(10.0 + 5 * DT) == 0
    res = rt.tick(10.0 + 5 * DT)
    assert res.reason is None and res.decoder_steps == 6
    slot.post(Plan(_latent(), 10.0 + 3 * DT, BASE, seq=2))  # every step of this one has touch at its time
    assert rt.prepare(10.0 + 7.5 * DT) == 4  # steps 0-3; step 4 is the current one, the tick's
    res = rt.tick(10.0 + 7.6 * DT)
    assert res.reason is None and res.step == 4 and res.decoder_steps == 1


def test_a_posted_plan_is_taken_between_ticks_unless_a_tick_is_due():
    rt = _runtime()[0]
    ticks: list[float] = []
    prepares: list[float] = []
    woke = threading.Event()

    def spin_once(timeout_s: float) -> None:  # a message source that never has a message
        woke.wait(timeout_s)
        woke.clear()

    period = 0.5
    loop = FastLoop(rt, 1 / period, lambda _t, _r: ticks.append(time.monotonic()),
                    lambda _h: ticks.append(time.monotonic()), now=time.monotonic,
                    prepare=lambda: prepares.append(time.monotonic()))  # fmt: skip
    loop.serve_while_waiting(spin_once, woke.set)
    loop.start()
    try:
        deadline = time.monotonic() + 5
        while len(ticks) < 2 and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(0.05)  # a quarter into the period
        posted = time.monotonic()
        loop.plan_posted()
        time.sleep(0.1)
        assert len(prepares) == 1 and posted <= prepares[0], (posted, prepares)
        assert not [t for t in ticks if posted < t <= prepares[0]]  # before the next tick, not by it
        # With a margin of a whole period a tick is always due within it: the tick takes the plan itself.
        loop.PREPARE_MARGIN_S = period
        loop.plan_posted()
        time.sleep(0.3)
        assert len(prepares) == 1 and loop.prepared == 1
    finally:
        loop.stop()
        loop.join(2)


def test_the_planner_loop_announces_each_plan_it_posts_and_not_a_stale_one():
    slot = PlanSlot()
    stamps = iter([5.0, 4.0, 6.0])  # the second is older than the first: dropped by the slot
    seqs = itertools.count(1)
    posted: list[int] = []
    done = threading.Event()

    def plan():
        try:
            return Plan(_latent(), next(stamps), BASE, seq=next(seqs))
        except StopIteration:
            done.set()
            return "done"

    planner = PlannerLoop(plan, slot, rate_hz=50.0, on_post=lambda: posted.append(slot.latest().seq))
    planner.start()
    assert done.wait(10)
    planner.stop()
    planner.join(2)
    assert posted == [1, 3] and slot.dropped_stale == 1


def test_the_fast_loop_warms_just_before_each_tick_and_a_failing_warm_is_switched_off():
    rt = _runtime()[0]
    events: list[tuple[str, float]] = []
    period, lead = 0.1, 0.02
    loop = FastLoop(rt, 1 / period, lambda _t, _r: events.append(("tick", time.monotonic())),
                    lambda _h: events.append(("tick", time.monotonic())), now=time.monotonic,
                    prewarm=lambda: events.append(("warm", time.monotonic())), prewarm_s=lead)  # fmt: skip
    loop.start()
    time.sleep(1.05)
    loop.stop()
    loop.join(2)
    ticks = [t for kind, t in events if kind == "tick"]
    assert len(ticks) >= 6, events
    # Between two ticks one warm, in the last part of the period (it is due `lead` before the tick).
    for a, b in itertools.pairwise(ticks):
        warms = [t for kind, t in events if kind == "warm" and a < t < b]
        assert len(warms) == 1, (a, b, warms)
        assert warms[0] - a > period / 2, (a, warms[0])
    assert loop.prewarms == len([e for e in events if e[0] == "warm"])

    def broken() -> None:
        raise RuntimeError("no session")

    ticks.clear()
    loop = FastLoop(rt, 1 / period, lambda _t, _r: ticks.append(time.monotonic()),
                    lambda _h: ticks.append(time.monotonic()), now=time.monotonic,
                    prewarm=broken, prewarm_s=lead)  # fmt: skip
    loop.start()
    time.sleep(0.55)
    loop.stop()
    loop.join(2)
    assert len(ticks) >= 3 and loop.prewarms == 0
    assert loop.prewarm is None and loop.prewarm_error == "RuntimeError: no session"


def test_a_plan_switch_glides_from_the_last_target_and_a_wild_one_is_still_held():
    rt, _, slot, touch = _runtime(max_jump=0.01, blend_s=0.25)
    touch.push(0.0, np.zeros(2))
    slot.post(Plan(_latent(), 0.0, BASE, seq=1))
    first = rt.tick(0.0).target
    assert first is not None
    # The next plan starts 15 mm to the side: unblended that is a 15 mm step, over the 10 mm guard.
    side = _latent()
    side[:, 1] += 0.015
    slot.post(Plan(side, 0.1, BASE, seq=2))
    sent = [first]
    for k in range(12):
        touch.push(0.1 + k * DT, np.zeros(2))
        res = rt.tick(0.1 + k * DT)
        assert res.target is not None, res.reason
        sent.append(res.target)
    xyz = np.array([t[:3] for t in sent])
    assert np.allclose(xyz[1], xyz[0])  # the switch starts exactly at the last target
    assert np.max(np.linalg.norm(np.diff(xyz, axis=0), axis=1)) < 0.01  # no step the guard would refuse
    # After the blend time the targets are the new plan's own.
    plain, _, plain_slot, plain_touch = _runtime(max_jump=1.0)
    plain_touch.push(0.1 + 11 * DT, np.zeros(2))
    plain_slot.post(Plan(side, 0.1, BASE, seq=2))
    assert np.allclose(sent[-1][:3], plain.tick(0.1 + 11 * DT).target[:3])
    assert rt.switches_blended == 1 and rt.guard.rejections == {}
    # An offset beyond twice the jump limit is no plan switch to smooth over: the guard holds it.
    wild = _latent()
    wild[:, 0] += 0.05
    slot.post(Plan(wild, 0.6, BASE, seq=3))
    touch.push(0.6, np.zeros(2))
    res = rt.tick(0.6)
    assert res.target is None and res.reason.startswith("jump:")
    assert rt.switches_blended == 1


def test_touch_history_rejects_wrong_dimension():
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        TouchHistory(dim=2).push(0.0, np.zeros(3))


def test_nan_action_is_never_published_by_the_fast_loop():
    rt, _, slot, touch = _runtime()
    latent = _latent()
    latent[:] = np.nan
    t0 = time.monotonic()
    touch.push(t0, np.zeros(2))
    slot.post(Plan(latent, t0, BASE, seq=1))
    published, holds = [], []
    loop = FastLoop(rt, 100.0, lambda tgt, _r: published.append(tgt), holds.append, now=time.monotonic)
    loop.start()
    time.sleep(0.3)
    loop.stop()
    loop.join(2)
    assert published == []
    assert holds and all(h.startswith(("non-finite", "touch stale", "plan 1 expired")) for h in holds)
    assert any(h.startswith("non-finite") for h in holds)


def test_fast_loop_keeps_ticking_while_the_planner_is_stuck():
    """A planner blocked inside its call (an infinitely slow planner) does not delay one fast tick."""
    rt, _, slot, touch = _runtime()
    release = threading.Event()
    calls = []

    def slow_plan():
        calls.append(time.monotonic())
        now = time.monotonic()
        if len(calls) == 1:
            return Plan(_latent(0.0), now, BASE, seq=1)
        release.wait(30)  # stuck
        return "released"

    planner = PlannerLoop(slow_plan, slot, rate_hz=6.0)
    published, holds = [], []

    def feed_touch():
        while not release.is_set():
            touch.push(time.monotonic(), np.zeros(2))
            time.sleep(0.01)

    feeder = threading.Thread(target=feed_touch, daemon=True)
    loop = FastLoop(rt, RATE, lambda tgt, _r: published.append(tgt), holds.append, now=time.monotonic)
    feeder.start()
    planner.start()
    loop.start()
    time.sleep(1.5)
    ticks_while_stuck = len(published) + len(holds)
    release.set()
    loop.stop()
    planner.stop()
    loop.join(2)
    planner.join(5)
    assert len(calls) >= 2  # the planner was inside its stuck call during the window
    # 1.5 s at 24 Hz is 36 ticks; even a loaded CI machine keeps well above half of them.
    assert ticks_while_stuck >= 18, (len(published), len(holds))
    # It sent the plan's targets while the plan was valid, then held because the plan expired.
    assert len(published) >= RecordingHead.horizon - 2
    assert any(h.startswith("plan 1 expired") for h in holds)


def test_a_touch_trigger_runs_the_next_tick_at_once_and_rephases_the_schedule():
    rt = _runtime()[0]
    ticks: list[float] = []
    loop = FastLoop(rt, 2.0, lambda _t, _r: ticks.append(time.monotonic()), lambda _h: ticks.append(time.monotonic()),
                    now=time.monotonic)  # fmt: skip

    def wait_ticks(n: int, timeout: float = 3.0) -> None:
        deadline = time.monotonic() + timeout
        while len(ticks) < n and time.monotonic() < deadline:
            time.sleep(0.002)

    loop.start()
    try:
        wait_ticks(1)
        time.sleep(max(0.0, ticks[0] + 0.1 - time.monotonic()))
        t_trig = time.monotonic()
        loop.trigger()  # 100 ms after a timer tick, which ran on older touch: this touch runs its own tick now
        wait_ticks(2)
        assert len(ticks) == 2 and ticks[1] - t_trig < 0.05, (ticks, t_trig)
        time.sleep(max(0.0, ticks[1] + 0.1 - time.monotonic()))
        loop.trigger()  # 100 ms after a triggered tick, under half the 500 ms period: left to the schedule
        time.sleep(0.05)
        assert len(ticks) == 2
        time.sleep(max(0.0, ticks[1] + 0.3 - time.monotonic()))
        t_trig = time.monotonic()
        loop.trigger()  # 300 ms after it: the next tick runs now instead of at 500 ms
        wait_ticks(3)
        assert len(ticks) == 3 and ticks[2] - t_trig < 0.05, (ticks, t_trig)
        # After a triggered tick the timer grants a quarter period of grace: a touch 50 ms late (550 ms after
        # the last tick) still runs its own tick, and no timer tick on the old touch comes first at 500 ms.
        time.sleep(max(0.0, ticks[2] + 0.55 - time.monotonic()))
        assert len(ticks) == 3, ticks
        t_late = time.monotonic()
        loop.trigger()
        wait_ticks(4)
        assert len(ticks) == 4 and ticks[3] - t_late < 0.05, (ticks, t_late)
        # No trigger any more: the timer ticks a period plus the grace after the triggered tick, then at the period.
        wait_ticks(6)
        assert 0.55 < ticks[4] - ticks[3] < 0.7, ticks
        assert 0.45 < ticks[5] - ticks[4] < 0.55, ticks
    finally:
        loop.stop()
        loop.join(2)
    assert loop.triggered == 3


def test_the_planner_keeps_its_rate_in_the_clock_it_is_given_and_stops_while_that_clock_is_paused():
    """In sim the planner is paced by sim time: a sim at half speed gets half the planner steps per wall second
    (the same per sim second); a paused sim clock gets none, and stop() still ends the loop at once."""
    t0 = time.monotonic()
    paused = threading.Event()
    frozen_at: list[float] = []

    def half_speed() -> float:
        if paused.is_set():
            return frozen_at[0]
        return 0.5 * (time.monotonic() - t0)

    stamps: list[float] = []

    def plan() -> str:
        stamps.append(half_speed())
        return "observing"

    loop = PlannerLoop(plan, PlanSlot(), rate_hz=10.0, pace_clock=half_speed)
    loop.start()
    time.sleep(2.0)
    frozen_at.append(half_speed())
    paused.set()
    n_running = len(stamps)
    time.sleep(0.5)
    n_paused = len(stamps) - n_running
    t_stop = time.monotonic()
    loop.stop()
    loop.join(2)
    assert not loop.is_alive() and time.monotonic() - t_stop < 0.5
    # 2 wall s = 1 sim s = 10 steps at 10 Hz of sim time (20 if it kept wall time); a loaded machine may lose some.
    assert 5 <= n_running <= 12, stamps
    assert np.median(np.diff(stamps)) == pytest.approx(0.1, abs=0.02)
    assert n_paused <= 1
