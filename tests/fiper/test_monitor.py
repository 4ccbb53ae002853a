"""The run-time FailureMonitor on held-out successes, OOD situations and bad input."""

import numpy as np
import pytest

from policy_runtime.fiper.monitor import FailureMonitor, MonitorFault, replay
from policy_runtime.fiper.rule import Rule
from tests.fiper.synthetic import B, D, H, chunks, rollout


def _run(mon, emb, ch):
    return [mon.step(e, c) for e, c in zip(emb, ch, strict=True)]


@pytest.fixture
def monitor(calibrated):
    return FailureMonitor.load(calibrated.monitor_dir, calibrated.policy_dir)


def test_held_out_successes_rarely_alarm(monitor):
    rng = np.random.default_rng(2024)
    alarms = 0
    for _ in range(20):
        monitor.reset()
        out = _run(monitor, *rollout(rng, 30))
        alarms += out[-1].alarm
    assert alarms <= 4  # delta = 0.1: about 2 of 20 expected; 4 is far in the tail


def test_ood_with_spread_samples_alarms_and_latches(monitor):
    rng = np.random.default_rng(1)
    out = _run(monitor, *rollout(rng, 8, spread_m=0.05, ood=True))
    first = next(o for o in out if o.alarm)
    assert first.new_alarm and first.fired == "rnd+ace"
    assert first.rnd_window > first.rnd_threshold and first.ace_window > first.ace_threshold
    assert monitor.alarm is not None and monitor.alarm.step == first.step
    after = _run(monitor, *rollout(rng, 3))  # back to nominal: still latched
    assert all(o.alarm and not o.new_alarm for o in after)
    monitor.reset()
    assert monitor.alarm is None and monitor.steps == 0


def test_ood_with_tight_samples_does_not_alarm_under_and(monitor, calibrated):
    rng = np.random.default_rng(2)
    emb, ch = rollout(rng, 15, spread_m=0.002, ood=True)
    out = _run(monitor, emb, ch)
    assert all(o.rnd_exceeds for o in out[1:])  # clearly out of distribution ...
    assert not any(o.alarm for o in out)  # ... but decisive: no alarm
    or_monitor = FailureMonitor.load(calibrated.monitor_dir, rule="or")
    assert any(o.alarm for o in _run(or_monitor, emb, ch))  # the OR baseline would have stopped


def test_replay_matches_the_live_monitor_for_every_rule(calibrated):
    rng = np.random.default_rng(3)
    emb = np.concatenate([rollout(rng, 10)[0], rollout(rng, 10, ood=True)[0]])
    ch = np.concatenate([rollout(rng, 10)[1], rollout(rng, 10, spread_m=0.05)[1]])
    for rule in Rule:
        mon = FailureMonitor.load(calibrated.monitor_dir, rule=rule, time_varying=True)
        out = _run(mon, emb, ch)
        live = [o.fired for o in out]
        rnd = np.array([o.rnd_score for o in out])
        ace = np.array([o.ace_score for o in out])
        alarms = replay(mon.artifacts, rnd, ace, rule, time_varying=True)
        first_live = next((o.step for o in out if o.new_alarm), None)
        first_replay = int(np.argmax(alarms)) if alarms.any() else None
        assert first_live == first_replay, (rule, live)
        if rule is Rule.AND:  # the second half is OOD with spread samples
            assert first_live is not None and first_live >= 10


@pytest.mark.parametrize(
    ("embedding", "samples", "match"),
    [
        (np.zeros(D + 1), None, f"dimension {D + 1}, the monitor was calibrated for {D}"),
        (np.full(D, np.nan), None, "embedding contains 16 non-finite"),
        (None, (B // 2, H), f"B={B // 2}, H={H}; the monitor was calibrated with B={B}, H={H}"),
        (None, (B, H + 1), f"H={H + 1}"),
    ],
)
def test_bad_input_latches_a_fault(monitor, embedding, samples, match):
    rng = np.random.default_rng(4)
    emb = np.zeros(D, np.float32) if embedding is None else embedding
    ch = chunks(rng, 0.0, 0.002) if samples is None else chunks(rng, 0.0, 0.002, b=samples[0], h=samples[1])
    with pytest.raises(MonitorFault, match=match):
        monitor.step(emb, ch)
    assert monitor.alarm is not None and monitor.alarm.fired == "fault"


def test_nan_chunk_is_a_fault(monitor):
    ch = chunks(np.random.default_rng(5), 0.0, 0.002)
    ch[3, 2, 1] = np.inf
    with pytest.raises(MonitorFault, match="non-finite"):
        monitor.step(np.zeros(D), ch)
    assert monitor.alarm.fired == "fault"
