"""CycleTimer and StreamStats on a controlled clock."""

from __future__ import annotations

import numpy as np
import pytest

from hardware.timing import CycleTimer, SampleRing, StreamStats


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.t

    def sleep(self, dt: float) -> None:
        self.slept.append(dt)
        self.t += dt


def test_cycle_timer_sleeps_to_absolute_deadlines():
    clk = FakeClock()
    timer = CycleTimer(rate_hz=100, clock=clk, sleep=clk.sleep)
    for _ in range(5):
        with timer.section("work"):
            clk.t += 0.003
        timer.wait()
    assert clk.t == pytest.approx(0.05)  # 5 cycles of 10 ms, no drift
    assert timer.overruns.maxlen == 100 and len(timer.overruns) == 0


def test_cycle_timer_records_overruns_with_sections_and_skips_missed_cycles():
    clk = FakeClock()
    timer = CycleTimer(rate_hz=100, clock=clk, sleep=clk.sleep)
    with timer.section("read"):
        clk.t += 0.002
    with timer.section("infer"):
        clk.t += 0.033  # overran by 2.5 periods
    timer.wait()
    assert len(timer.overruns) == 1
    over = timer.overruns[0]
    assert over.sections["infer"] == pytest.approx(0.033) and over.sections["read"] == pytest.approx(0.002)
    assert timer.missed_cycles == 2
    t_before = clk.t
    with timer.section("work"):
        clk.t += 0.001
    timer.wait()
    assert clk.t == pytest.approx(0.04)  # next grid point, not a burst of catch-up cycles
    assert clk.t > t_before


def test_cycle_timer_rejects_bad_rate():
    with pytest.raises(ValueError, match="rate_hz must be > 0"):
        CycleTimer(rate_hz=0)


def test_stream_stats_rate_and_staleness():
    clk = FakeClock()
    s = StreamStats("/x", stale_after_s=0.2, clock=clk)
    assert s.stale() and s.report()["age_s"] == "never"
    for _ in range(11):
        s.tick()
        clk.t += 0.05
    assert s.rate_hz() == pytest.approx(20.0)
    assert not s.stale()
    clk.t += 0.3
    assert s.stale() and s.report()["stale"] == "true"


def test_sample_ring_keeps_the_last_samples_oldest_first():
    ring = SampleRing(4)
    assert len(ring) == 0 and ring.values().size == 0
    for v in range(3):
        ring.append(v)
    np.testing.assert_array_equal(ring.values(), [0, 1, 2])
    for v in range(3, 11):  # wraps twice
        ring.append(v)
        kept = ring.values()
        np.testing.assert_array_equal(kept, np.arange(max(0, v - 3), v + 1))
    assert len(ring) == 4
    kept[0] = -1.0  # a copy: the ring is untouched
    assert ring.values()[0] == 7
    with pytest.raises(ValueError):
        SampleRing(0)
