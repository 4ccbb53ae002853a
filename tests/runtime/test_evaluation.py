"""Evaluation helpers: the mean-action baseline from a real zarr dataset, and the success summary."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

from policy_runtime.evaluation.mean_action import MeanAction
from policy_runtime.evaluation.summary import controller_row, format_policy_timing, format_table, wilson_interval


def _dataset(path, episodes):
    root = zarr.open_group(str(path), mode="w")
    action = np.concatenate([a for a, _ in episodes]).astype(np.float32)
    tcp = np.concatenate([t for _, t in episodes]).astype(np.float32)
    n = len(action)
    root.create_array("data/action", data=action)
    root.create_array("data/tcp_pose", data=tcp)
    root.create_array("data/timestamp", data=np.arange(n) / 24.0)
    root.create_array("meta/episode_ends", data=np.cumsum([len(a) for a, _ in episodes]).astype(np.int64))
    return path


def _episode(start, velocity, steps):
    t = np.arange(steps)[:, None] / 24.0
    xyz = np.asarray(start) + np.asarray(velocity) * t
    quat = np.tile([1.0, 0, 0, 0], (steps, 1))
    action = np.hstack([xyz + np.asarray(velocity) / 24.0, quat, np.full((steps, 1), 0.04)])
    tcp = np.hstack([xyz, quat])
    return action, tcp


def test_mean_action_averages_motion_relative_to_each_start(tmp_path):
    # Two demos from different starts moving in opposite y directions, the second one shorter.
    a = _episode([0.5, 0.0, 0.3], [0.0, 0.24, -0.24], 48)
    b = _episode([0.6, 0.1, 0.2], [0.0, -0.24, -0.24], 24)
    mean = MeanAction.from_dataset(_dataset(tmp_path / "d.zarr", [a, b]))
    assert mean.episodes == 2 and mean.rate_hz == pytest.approx(24.0) and mean.offsets.shape == (48, 3)
    # y cancels while both move; z is the common descent; after b ends it holds its last offset.
    assert np.allclose(mean.offsets[10], [0.0, 0.0, -0.24 * 11 / 24], atol=1e-6)
    b_last = b[0][-1, :3] - b[1][0, :3]
    a_40 = a[0][40, :3] - a[1][0, :3]
    assert np.allclose(mean.offsets[40], (a_40 + b_last) / 2, atol=1e-6)


def test_replay_is_open_loop_then_lifts_to_done(tmp_path):
    mean = MeanAction.from_dataset(_dataset(tmp_path / "d.zarr", [_episode([0.5, 0, 0.3], [0, 0, -0.24], 24)]))
    r = mean.controller(np.array([0.4, 0.1, 0.25]))
    t1 = r.step(0.5, force_n=0.0)
    t2 = r.step(0.0 + 1e-9, force_n=50.0)  # the force is ignored: open loop
    assert np.allclose(t1, t2) and np.allclose(t1, [0.4, 0.1, 0.25] + mean.offsets[12])
    r.lift()
    assert not r.done
    for _ in range(200):
        r.step(0.02, 0.0)
    assert r.done and r.target[2] >= 0.25


def test_wilson_interval_and_table():
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and 0.25 < hi < 0.35
    lo, hi = wilson_interval(10, 10)
    assert hi == 1.0 and 0.65 < lo < 0.75
    lo, hi = wilson_interval(5, 10)
    assert lo < 0.5 < hi
    outcomes = [
        {"success": True, "kind": "success", "coverage": 0.95},
        {"success": False, "kind": "timeout", "coverage": 0.3},
        {"success": False, "kind": "force_limit", "coverage": 0.1},
    ]
    row = controller_row("p", outcomes)
    assert row["successes"] == 1 and row["episodes"] == 3 and row["failures"] == {"timeout": 1, "force_limit": 1}
    assert "1/3" in format_table([row]) and "timeout x1" in format_table([row])
    assert row["contact_limited"] is None and "contact limit" not in format_table([row])
    eased = [{**o, "arm_contact_limited": n} for o, n in zip(outcomes, (0, 12, 3), strict=True)]
    row = controller_row("p", eased)
    assert row["contact_limited"] == 2 and "contact limit engaged in 2/3" in format_table([row])


def test_policy_timing_leaves_out_the_touch_latency_measured_in_sim_time():
    st = {"touch_to_target_ms_p50": 0.0, "touch_to_target_ms_p99": 33.3, "fast_path_ms_p50": 0.31,
          "fast_path_ms_p99": 0.92, "fast_jitter_ms_p99": 2.0, "planner_ms_p50": 170.0}  # fmt: skip
    wall = format_policy_timing(st)
    assert "p99 33.30 ms" in wall and "p99 0.92 ms" in wall
    sim = format_policy_timing(st, sim_time=True)
    assert "33.30" not in sim and "not measurable in sim time" in sim and "p99 0.92 ms" in sim
    assert "paced by the sim" in sim and "paced by the sim" not in wall
