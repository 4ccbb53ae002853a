"""ObsSync: latest-before-t alignment, max age, max skew, and the reasons it reports."""

from __future__ import annotations

import math

import pytest

from policy_runtime.obs_sync import ObsSync, StreamSpec


def filled() -> ObsSync:
    s = ObsSync(["cam", "tactile", "arm"], max_skew_s=0.06, max_age_s=0.2)
    for k in range(10):  # cam 15 Hz, tactile 30 Hz, arm 100 Hz, from t=10
        s.push("cam", 10 + k / 15, f"cam{k}")
    for k in range(20):
        s.push("tactile", 10 + k / 30, f"tac{k}")
    for k in range(60):
        s.push("arm", 10 + k / 100, k)
    return s


def test_takes_the_newest_sample_at_or_before_t_and_reports_skew() -> None:
    s = filled()
    r = s.query(10.25)
    assert r.ok and r.reason == ""
    assert r.values == {"cam": "cam3", "tactile": "tac7", "arm": 25}
    assert r.stamps["cam"] == pytest.approx(10.2)
    assert r.skew_s == pytest.approx(10.25 - 10.2)
    assert r.ages_s["arm"] == pytest.approx(0.0)


def test_missing_stream_is_named() -> None:
    s = ObsSync(["cam", "arm"])
    s.push("arm", 1.0, 0)
    r = s.query(1.0)
    assert not r.ok and r.reason == "missing" and r.missing == ("cam",)
    assert "cam" in r.detail
    # samples after t do not count
    s.push("cam", 1.5, "late")
    assert s.query(1.2).missing == ("cam",)


def test_a_stalled_stream_is_reported_stale_with_its_age() -> None:
    s = filled()  # cam's newest stamp is 10.6
    r = s.query(10.9)
    assert not r.ok and r.reason == "stale"
    assert "cam" in r.stale and "arm" in r.stale
    assert "ms old" in r.detail


def test_per_stream_max_age_override() -> None:
    s = ObsSync([StreamSpec("cam", max_age_s=1.0), "arm"], max_skew_s=10.0, max_age_s=0.1)
    s.push("cam", 0.0, 1)
    s.push("arm", 0.5, 2)
    r = s.query(0.55)
    assert r.ok, r.detail  # cam 0.55 s old is fine with its own 1 s limit
    assert s.query(1.2).stale == ("cam", "arm")


def test_skew_beyond_the_limit_is_refused() -> None:
    s = ObsSync(["a", "b"], max_skew_s=0.02, max_age_s=1.0)
    s.push("a", 1.00, 0)
    s.push("b", 1.05, 0)
    r = s.query(1.06)
    assert not r.ok and r.reason == "skew" and r.skew_s == pytest.approx(0.05)
    assert "oldest a" in r.detail and "newest b" in r.detail


def test_optional_stream_may_be_absent() -> None:
    s = ObsSync(["arm", StreamSpec("depth", required=False)])
    s.push("arm", 1.0, 0)
    assert s.query(1.0).ok


def test_out_of_order_and_repeated_stamps() -> None:
    s = ObsSync(["a"], history=None)
    for t in (1.0, 3.0, 2.0):
        s.push("a", t, t)
    s.push("a", 3.0, "replaced")
    assert s.out_of_order["a"] == 1
    assert s.query(2.5).values["a"] == 2.0
    assert s.query(3.0).values["a"] == "replaced"


def test_history_is_bounded() -> None:
    s = ObsSync(["a"], history=3)
    for k in range(10):
        s.push("a", float(k), k)
    assert s.query(5.5).missing == ("a",)  # stamp 5 was dropped
    assert s.query(9.0).values["a"] == 9


def test_bad_input_is_refused_with_a_clear_error() -> None:
    s = ObsSync(["a"])
    with pytest.raises(KeyError, match="unknown stream 'b'"):
        s.push("b", 1.0, 0)
    with pytest.raises(ValueError, match="finite"):
        s.push("a", math.nan, 0)
    with pytest.raises(ValueError, match="finite"):
        s.query(math.inf)
    with pytest.raises(ValueError, match="duplicate"):
        ObsSync(["a", "a"])
    with pytest.raises(ValueError, match="max_skew_s"):
        ObsSync(["a"], max_skew_s=-1)
    assert s.query(0.0).reason == "missing"  # nothing was stored by the refused pushes


def test_skew_statistics_and_query_latest() -> None:
    s = filled()
    for t in (10.2, 10.25, 10.3, 10.9):
        s.query(t)
    st = s.skew_stats()
    assert st["count"] == 4
    assert st["max_ms"] >= st["p99_ms"] >= st["p50_ms"] > 0
    assert st["refused_frac"] == pytest.approx(0.25)
    assert s.report()["result_stale"] == "1"
    latest = s.query_latest()
    assert latest.t == pytest.approx(10 + 19 / 30) and latest.values == {"cam": "cam9", "tactile": "tac19", "arm": 59}
    assert ObsSync(["a"]).query_latest().reason == "missing"
