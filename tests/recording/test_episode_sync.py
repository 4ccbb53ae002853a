"""The sync rule on constructed stamp sets."""

from __future__ import annotations

import numpy as np

from policy_runtime.datasets.episode_sync import sync_episode


def test_an_optional_command_stream_that_never_fired_gives_no_picks():
    sensors = {"cam": np.arange(0.0, 1.0, 1 / 30), "pose": np.arange(0.0, 1.0, 1 / 100)}
    commands = {"target": np.arange(0.0, 1.0, 1 / 50), "gripper": np.zeros(0)}
    s = sync_episode(sensors, commands, rate_hz=10.0, max_skew_s=0.05)
    assert s.ok.all() and len(s.ticks) == 10
    assert (s.picks["gripper"] == -1).all()
    assert (s.picks["target"] >= 0).all()
    # target at tick t is the newest command stamped at or before t
    np.testing.assert_array_equal(commands["target"][s.picks["target"]] <= s.ticks + 1e-12, True)


def test_a_required_command_stream_that_never_fired_flags_the_episode():
    sensors = {"cam": np.arange(0.0, 1.0, 1 / 30)}
    s = sync_episode(sensors, {"target": np.zeros(0)}, rate_hz=10.0, max_skew_s=0.05, required_commands=("target",))
    assert len(s.ticks) == 0 and s.flags == ["no messages on target"]
