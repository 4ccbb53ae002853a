"""Keyboard decoding, SpaceMouse mapping and the twist integrator (deadman, re-anchoring, limits)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from hardware.teleop import EpisodeKey, IntegratorLimits, KeyboardDecoder, SpaceMouseMapper, TargetIntegrator
from hardware.teleop.command import TeleopCommand

POSE = np.array([0.5, 0.0, 0.3, 1.0, 0.0, 0.0, 0.0])


def test_keys_map_to_twists_events_and_split_escape_sequences():
    dec = KeyboardDecoder(linear_speed_mps=0.1, key_hold_s=0.1)
    (cmd,) = dec.feed("w", now_s=1.0)
    np.testing.assert_allclose(cmd.linear, [0.1, 0, 0])
    assert cmd.moving(1.05) and not cmd.moving(1.11)
    assert dec.feed("\x1b[", 2.0) == []  # an arrow key arriving in two reads
    (arrow,) = dec.feed("D", 2.0)
    np.testing.assert_allclose(arrow.linear, [0, 0.1, 0])
    cmds = dec.feed(" BSFX?", 3.0)
    assert cmds[0].toggle_gripper
    assert [c.episode for c in cmds[1:]] == [
        EpisodeKey.START,
        EpisodeKey.SUCCESS,
        EpisodeKey.FAILURE,
        EpisodeKey.DISCARD,
    ]
    assert dec.feed("\x1b", 4.0)[0].quit


def test_integrator_is_a_deadman_and_reanchors_after_idle():
    integ = TargetIntegrator(IntegratorLimits(max_linear_mps=1.0, max_lead_m=1.0))
    quiet = TeleopCommand()
    assert integ.step(quiet, POSE, 0.0, 0.02) is None
    move = TeleopCommand(linear=np.array([0.1, 0, 0]), until_s=1.0)
    t1 = integ.step(move, POSE, 0.0, 0.02)
    t2 = integ.step(move, POSE, 0.02, 0.02)
    np.testing.assert_allclose([t1[0], t2[0]], [0.502, 0.504])
    assert integ.step(move, POSE, 1.5, 0.02) is None  # the key's window ran out: no target at all
    drifted = POSE.copy()
    drifted[2] = 0.25
    again = integ.step(TeleopCommand(linear=np.array([0.1, 0, 0]), until_s=3.0), drifted, 2.0, 0.02)
    np.testing.assert_allclose(again[:3], [0.502, 0.0, 0.25])  # re-anchored at the measured pose


def test_integrator_clips_speed_and_lead():
    integ = TargetIntegrator(IntegratorLimits(max_linear_mps=0.1, max_lead_m=0.005))
    fast = TeleopCommand(linear=np.array([10.0, 0, 0]), until_s=10.0)
    t = integ.step(fast, POSE, 0.0, 0.02)
    assert abs(t[0] - POSE[0] - 0.1 * 0.02) < 1e-12
    for k in range(10):  # the arm does not follow (blocked): the target stops 5 mm ahead
        t = integ.step(fast, POSE, 0.02 * (k + 1), 0.02)
    assert abs(t[0] - POSE[0] - 0.005) < 1e-12
    assert abs(np.linalg.norm(t[3:7]) - 1.0) < 1e-12


def test_spacemouse_deadzone_and_button_edge():
    m = SpaceMouseMapper(linear_speed_mps=0.1, deadzone=0.1)
    state = SimpleNamespace(x=0.05, y=0.55, z=-1.0, roll=0.0, pitch=0.0, yaw=0.0, buttons=[1, 0])
    cmd = m.map(state, 0.0)
    np.testing.assert_allclose(cmd.linear, [0.0, 0.05, -0.1])
    assert cmd.toggle_gripper
    assert not m.map(state, 0.1).toggle_gripper  # held button: one toggle only
    centred = SimpleNamespace(x=0.02, y=-0.03, z=0.0, roll=0.01, pitch=0.0, yaw=0.0, buttons=[0, 0])
    assert not m.map(centred, 0.2).moving(0.2)
