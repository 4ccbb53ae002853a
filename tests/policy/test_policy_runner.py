"""The policy runner on a real exported bundle: observation gating, planner features, guarded targets."""

from __future__ import annotations

import dataclasses
import functools
import os
import signal
import threading
import time

import numpy as np
import pytest

from policy_runtime.engine.policy_engine import PolicyEngine
from policy_runtime.runtime.planner_process import PlannerProcess, PlannerProcessError
from policy_runtime.runtime.policy_runner import PolicyRunner, RunnerConfig
from tests.helpers.frames import fixed_frames

POSE = np.array([0.5, 0.0, 0.3, 1.0, 0.0, 0.0, 0.0])


class Outputs:
    def __init__(self) -> None:
        self.targets: list[np.ndarray] = []
        self.features: list[tuple[int, np.ndarray, np.ndarray]] = []

    def target(self, target: np.ndarray, _t: float) -> None:
        self.targets.append(target.copy())

    def feature(self, step: int, emb: np.ndarray, chunks: np.ndarray) -> None:
        self.features.append((step, emb, chunks))


@pytest.fixture(scope="module")
def engine(bundle_dir) -> PolicyEngine:
    return PolicyEngine(bundle_dir)


def _runner(engine, clock, out, **cfg) -> PolicyRunner:
    return PolicyRunner(engine, RunnerConfig(**{"num_samples": 4, **cfg}), clock, out.target, out.feature)


def _push_all(r: PolicyRunner, t: float, touch: np.ndarray | None = None, image_hw=(240, 320)) -> None:
    for cam in r.cameras:
        r.push_image(cam, t, np.full((*image_hw, 3), 120, np.uint8))
    r.push_tcp_pose(t, POSE)
    r.push_gripper_width(t, 0.04)
    r.push_touch(t, np.zeros(r.touch_dim, np.float32) if touch is None else touch)


def _feed(r: PolicyRunner, touch=lambda: None, rate_hz: float = 30.0) -> tuple[threading.Event, threading.Thread]:
    """Push every stream at `rate_hz` from a thread (touch from `touch()`, None = zeros) until the event is set."""
    stop = threading.Event()

    def feed():
        while not stop.is_set():
            _push_all(r, time.time(), touch())
            time.sleep(1 / rate_hz)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    return stop, feeder


def test_planner_waits_for_every_stream_then_publishes_monitor_features(engine):
    now = [100.0]
    out = Outputs()
    r = _runner(engine, lambda: now[0], out)
    assert r.plan_once().startswith("observation missing")
    for k in range(3):  # three capture times, obs_stride apart, the last one just before "now"
        _push_all(r, 100.0 - (2 - k) * r.obs_dt - 0.01)
    r.push_tcp_pose(99.0, POSE)  # an old, out-of-order sample does not disturb the newest
    plan = r.plan_once()
    assert not isinstance(plan, str), plan
    assert plan.latent.shape == tuple(engine.latent_shape) and plan.seq == 1
    assert plan.obs_stamp_s == pytest.approx(99.99)
    step, emb, chunks = out.features[-1]
    assert step == 1 and emb.ndim == 1 and chunks.shape == (4, engine.horizon, 3)
    assert np.all(np.isfinite(chunks))
    r.disengage()  # not in control: it still plans, but the monitor gets nothing (it must not stop the arm)
    assert not isinstance(r.plan_once(), str) and len(out.features) == 1
    r.config = dataclasses.replace(r.config, features_when_disengaged=True)  # shadow runs beside another controller
    assert not isinstance(r.plan_once(), str) and len(out.features) == 2 and out.features[-1][0] == 3
    now[0] = 100.0 + 1.0  # a second later nothing new arrived: stale, hold
    assert r.plan_once().startswith("observation stale")


def test_wrong_touch_dimension_is_refused(engine):
    r = _runner(engine, time.time, Outputs())
    with pytest.raises(ValueError, match=r"touch features must have shape"):
        r.push_touch(0.0, np.zeros(r.touch_dim + 1, np.float32))


def test_running_policy_sends_only_guarded_targets_and_holds_on_bad_touch(engine):
    out = Outputs()
    r = _runner(engine, time.time, out, planner_rate_hz=5.0, control_rate_hz=30.0, max_action_jump_m=0.5)
    bad = threading.Event()
    stop, feeder = _feed(r, lambda: np.full(r.touch_dim, np.nan, np.float32) if bad.is_set() else None)
    r.start()
    try:
        deadline = time.time() + 60
        while len(out.targets) < 10 and time.time() < deadline:
            time.sleep(0.05)
        assert len(out.targets) >= 10, r.status()
        st = r.status()  # the in-node fast path is timed for every target sent
        assert len(r.fast.path_ms) >= 10 and 0 < st["fast_path_ms_p50"] <= st["fast_path_ms_p99"], st
        # and so is touch capture -> target, for the touch each target was decoded with (fed at 30 Hz: < 1 s)
        assert 0 < st["touch_to_target_ms_p50"] <= st["touch_to_target_ms_p99"] < 1000, st
        # over every target sent so far (the status is read while ticks go on: one may be sent but not yet timed)
        assert st["targets_sent"] - 1 <= st["touch_to_target_samples"] <= st["targets_sent"], st
        for tgt in out.targets:
            assert tgt.shape == (8,) and np.all(np.isfinite(tgt))
            assert abs(np.linalg.norm(tgt[3:7]) - 1.0) < 1e-6
        bad.set()  # NaN touch from now on: dropped at the door, the touch stream goes stale, the policy holds
        time.sleep(r.config.max_age_s + 0.1)
        n_before = len(out.targets)
        time.sleep(1.0)
        assert len(out.targets) == n_before, "a target was sent while the touch input was NaN"
        assert r.bad_inputs.get("touch", 0) > 10, r.bad_inputs
        assert r.holds.get("touch stale", 0) > 0, r.holds
    finally:
        stop.set()
        r.stop()
        feeder.join(2)


def test_disengaged_runner_sends_nothing_and_engage_waits_for_a_fresh_plan(engine):
    out = Outputs()
    r = _runner(engine, time.time, out, planner_rate_hz=5.0, control_rate_hz=30.0, max_action_jump_m=0.5)
    r.disengage()
    stop, feeder = _feed(r)
    r.start()
    try:
        deadline = time.time() + 60
        while r.step < 3 and time.time() < deadline:  # the planner runs while disengaged
            time.sleep(0.05)
        assert r.step >= 3 and out.targets == [], r.status()
        assert r.holds.get("disengaged", 0) > 0, r.holds
        # A target left over from an earlier episode, 0.8 m away: the jump check must not judge the new
        # episode's targets against it (it would refuse them all), but against the measured TCP.
        r.guard.last = np.array([1.3, 0.0, 0.3, 1.0, 0.0, 0.0, 0.0, 0.04])
        engaged_at = time.time()
        r.engage()
        first_step = r.step
        while not out.targets and time.time() < deadline:
            time.sleep(0.01)
        assert out.targets, r.status()
        plan = r.slot.latest()  # what the first target came from: planned after the engage, from fresh obs
        assert plan.seq > first_step and plan.obs_stamp_s >= engaged_at
        r.disengage()
        time.sleep(0.2)
        n = len(out.targets)
        time.sleep(0.5)
        assert len(out.targets) == n, "targets after disengage"
    finally:
        stop.set()
        r.stop()
        feeder.join(2)


def _push_history(r: PolicyRunner, now: float) -> None:
    for k in range(3):
        _push_all(r, now - (2 - k) * r.obs_dt - 0.01)


def test_planner_process_plans_what_the_in_process_planner_plans(engine):
    """Same seed, same observation: the child process returns the in-process plan, monitor features included."""
    now = 100.0
    out_local, out_remote = Outputs(), Outputs()
    local = _runner(engine, lambda: now, out_local)
    remote = _runner(engine, lambda: now, out_remote, planner_process=True)
    try:
        assert remote.remote is not None and remote.remote.pid != os.getpid()
        for r in (local, remote):
            _push_history(r, now)
        for _ in range(2):  # the second plan checks that both rngs advance alike
            a, b = local.plan_once(), remote.plan_once()
            assert not isinstance(a, str) and not isinstance(b, str), (a, b)
            np.testing.assert_allclose(b.latent, a.latent, atol=1e-5)
            np.testing.assert_array_equal(b.base_pose, a.base_pose)
        np.testing.assert_allclose(out_remote.features[-1][2], out_local.features[-1][2], atol=1e-5)
    finally:
        remote.stop()
    assert not remote.remote.alive


def _push_state(r: PolicyRunner, t: float) -> None:
    r.push_tcp_pose(t, POSE)
    r.push_gripper_width(t, 0.04)
    r.push_touch(t, np.zeros(r.touch_dim, np.float32))


def test_planner_process_with_its_own_camera_feed_plans_the_same_and_checks_the_frames(engine):
    """Frames delivered in the child (no image in this process) give the plan the parent-fed planner gives;
    stale or skewed frames are refused there with the reason ObsSync would give."""
    now = 100.0
    out_local, out_remote = Outputs(), Outputs()
    local = _runner(engine, lambda: now, out_local)
    stamps = [now - (2 - k) * local.obs_dt - 0.01 for k in range(3)]  # as _push_history

    feed = functools.partial(fixed_frames, list(engine.cameras), stamps)
    cfg = RunnerConfig(num_samples=4, planner_process=True)
    remote = PolicyRunner(engine, cfg, lambda: now, out_remote.target, out_remote.feature, image_feed=feed)
    try:
        assert remote.images_in_child and "img_" + engine.cameras[0] not in remote.sync.streams
        with pytest.raises(RuntimeError, match="receives the camera frames itself"):
            remote.push_image(engine.cameras[0], now, np.zeros((240, 320, 3), np.uint8))
        _push_history(local, now)
        for t in stamps:
            _push_state(remote, t)
        a, b = local.plan_once(), remote.plan_once()
        assert not isinstance(a, str) and not isinstance(b, str), (a, b)
        np.testing.assert_allclose(b.latent, a.latent, atol=1e-5)
        assert b.obs_stamp_s == pytest.approx(a.obs_stamp_s)
        st = remote.status()
        assert st[f"camera_{engine.cameras[0]}_hz"] > 0, st
    finally:
        remote.stop()
    # One more child, with frames 150 ms behind the arm: fresh enough, but skewed; ten seconds later, stale.
    clock = [now]
    feed = functools.partial(fixed_frames, list(engine.cameras), [t - 0.15 for t in stamps])
    cfg = RunnerConfig(num_samples=4, planner_process=True)
    r = PolicyRunner(engine, cfg, lambda: clock[0], out_remote.target, out_remote.feature, image_feed=feed)
    try:
        for t in stamps:
            _push_state(r, t)
        got = r.plan_once()
        assert isinstance(got, str) and got.startswith("observation skew: camera and arm/touch"), got
        clock[0] = now + 10.0
        for t in stamps:
            _push_state(r, t + 10.0)
        got = r.plan_once()
        assert isinstance(got, str) and got.startswith("observation stale: img_"), got
    finally:
        r.stop()


def test_a_dead_planner_process_is_an_error_the_planner_loop_counts(engine):
    now = 100.0
    out = Outputs()
    r = _runner(engine, lambda: now, out, planner_process=True)
    try:
        _push_history(r, now)
        assert not isinstance(r.plan_once(), str)
        os.kill(r.remote.pid, signal.SIGKILL)
        r.remote._proc.join(5)
        with pytest.raises(PlannerProcessError, match="planner process died"):
            r.plan_once()
    finally:
        r.stop()


def test_planner_process_on_a_bad_bundle_fails_at_start_naming_it(tmp_path):
    with pytest.raises(PlannerProcessError, match=r"could not load .*nowhere"):
        PlannerProcess(tmp_path / "nowhere", num_samples=2)


def test_the_executed_sample_is_the_one_that_continues_the_last_chunk(engine):
    """Each plan executes the sample nearest the chunk executed before (over their common steps); after engage,
    or with `coherent_samples` off, sample 0. The monitor still gets all B samples."""
    from policy_runtime.runtime.coherence import overlap_distances

    now = [100.0]
    out = Outputs()
    r = _runner(engine, lambda: now[0], out, num_samples=8)
    off = _runner(engine, lambda: now[0], Outputs(), num_samples=8, coherent_samples=False)
    executed, picks = None, []
    for k in range(6):
        now[0] = 100.0 + k * r.obs_dt
        for runner in (r, off):
            _push_history(runner, now[0])
        plan = r.plan_once()
        assert not isinstance(plan, str), plan
        chunks = out.features[-1][2]
        assert chunks.shape[0] == 8
        if executed is None:
            assert plan.extras["sample"] == 0
        else:
            d = overlap_distances(chunks, plan.obs_stamp_s, executed[0], executed[1], 1.0 / r.action_rate_hz)
            assert d is not None and plan.extras["sample"] == int(np.argmin(d))
        picks.append(plan.extras["sample"])
        executed = (chunks[plan.extras["sample"]].astype(np.float64), plan.obs_stamp_s)
        other = off.plan_once()
        assert not isinstance(other, str) and other.extras["sample"] == 0
    assert any(p != 0 for p in picks), "8 random samples: the nearest is not always sample 0"
    assert r.status()["coherent_picks_not_sample0"] == sum(p != 0 for p in picks)
    r.engage()
    now[0] += r.obs_dt
    _push_history(r, now[0])
    plan = r.plan_once()
    assert not isinstance(plan, str) and plan.extras["sample"] == 0
