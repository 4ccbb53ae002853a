"""The safety envelope, watchdog and rejection log as pure logic (no franky, no ROS)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hardware.franka import CommandWatchdog, EnvelopeConfig, JointTarget, PoseTarget, RejectionLog, SafetyEnvelope
from hardware.franka.safety_envelope import CONTACT_ENGAGE_FRACTION, FR3_Q_MAX, FR3_Q_MIN

DOWN = np.array([1.0, 0.0, 0.0, 0.0])  # x, y, z, w: TCP pointing down
HOME = np.array([0.5, 0.0, 0.4])
NOW = 1000.0


def env(**kw: object) -> SafetyEnvelope:
    return SafetyEnvelope(EnvelopeConfig(**kw))  # type: ignore[arg-type]


def check(e: SafetyEnvelope, pos, quat=DOWN, stamp=NOW, frame="base", now=NOW):
    return e.check_pose(PoseTarget.of(pos, quat, stamp, frame), now, HOME, DOWN)


@pytest.mark.parametrize(
    ("pos", "quat", "stamp", "frame", "reason"),
    [
        ([math.nan, 0.0, 0.4], DOWN, NOW, "base", "nan_inf"),
        ([0.5, math.inf, 0.4], DOWN, NOW, "base", "nan_inf"),
        ([0.5, 0.0, 0.4], [math.nan, 0, 0, 1], NOW, "base", "nan_inf"),
        ([0.5, 0.0, 0.4], DOWN, math.nan, "base", "nan_inf"),
        ([0.5, 0.0], DOWN, NOW, "base", "bad_shape"),
        ([0.5, 0.0, 0.4], DOWN, NOW, "world", "wrong_frame"),
        ([0.5, 0.0, 0.4], [0.9, 0.0, 0.0, 0.0], NOW, "base", "non_unit_quaternion"),
        ([0.5, 0.0, 0.4], [0.0, 0.0, 0.0, 0.0], NOW, "base", "non_unit_quaternion"),
        ([0.5, 0.0, 0.4], DOWN, NOW - 0.5, "base", "stale"),
        ([0.5, 0.0, 0.4], DOWN, 0.0, "base", "stale"),
        ([0.5, 0.0, 0.4], DOWN, NOW + 5.0, "base", "future_stamp"),
        ([0.9, 0.0, 0.4], DOWN, NOW, "base", "out_of_workspace"),
        ([0.5, 0.0, 0.01], DOWN, NOW, "base", "out_of_workspace"),
        ([0.5, 0.2, 0.4], DOWN, NOW, "base", "step_too_large"),
        ([0.5, 0.0, 0.4], [0.0, 1.0, 0.0, 0.0], NOW, "base", "rotation_step_too_large"),
    ],
)
def test_bad_targets_are_rejected_with_their_reason(pos, quat, stamp, frame, reason) -> None:
    e = env()
    d = check(e, pos, quat, stamp, frame)
    assert not d.accepted
    assert d.reason == reason, d.detail
    assert d.detail  # a human-readable why
    assert e.last is None  # a rejected target never becomes the reference


def test_good_target_is_accepted_as_is_and_quaternion_normalized() -> None:
    e = env()
    d = check(e, [0.52, 0.01, 0.39], quat=[1.004, 0.0, 0.0, 0.0])
    assert d.accepted and not d.clipped
    np.testing.assert_allclose(d.pose.position, [0.52, 0.01, 0.39])
    assert np.linalg.norm(d.pose.quaternion) == pytest.approx(1.0)
    np.testing.assert_array_equal(d.velocity, 0.0)  # no stream yet: no feed-forward velocity


def test_clamp_mode_clips_to_the_box_and_says_so() -> None:
    e = env(workspace_mode="clamp", workspace_max=(0.51, 0.35, 0.60))
    d = check(e, [0.53, 0.0, 0.4])
    assert d.accepted and d.clipped
    np.testing.assert_allclose(d.pose.position, [0.51, 0.0, 0.4])


def test_stream_gets_speed_clipped_and_a_feed_forward_velocity() -> None:
    e = env(max_speed_mps=0.1, max_step_m=0.05)
    assert check(e, [0.5, 0.0, 0.4], stamp=NOW, now=NOW).accepted
    # 10 mm in 20 ms is 0.5 m/s: pulled back to 0.1 m/s -> 2 mm.
    d = check(e, [0.5, 0.01, 0.4], stamp=NOW + 0.02, now=NOW + 0.02)
    assert d.accepted and d.clipped
    np.testing.assert_allclose(d.pose.position, [0.5, 0.002, 0.4], atol=1e-9)
    np.testing.assert_allclose(d.velocity, [0.0, 0.1, 0.0], atol=1e-9)
    # A slow step is followed exactly, and the velocity is the stream's.
    d = check(e, [0.5, 0.003, 0.4], stamp=NOW + 0.04, now=NOW + 0.04)
    assert d.accepted and not d.clipped
    np.testing.assert_allclose(d.velocity, [0.0, 0.05, 0.0], atol=1e-9)


def test_step_is_measured_from_the_last_command_while_the_stream_is_live() -> None:
    e = env(max_step_m=0.03, max_speed_mps=10.0, watchdog_timeout_s=0.25)
    t = NOW
    for k in range(1, 6):  # 5 x 20 mm = 100 mm from the measured pose, each step small
        t += 0.1
        assert check(e, [0.5, 0.02 * k, 0.4], stamp=t, now=t).accepted
    # After the stream went silent, the reference is the measured pose again (100 mm away).
    t += 1.0
    d = check(e, [0.5, 0.12, 0.4], stamp=t, now=t)
    assert d.reason == "step_too_large"


def test_feed_forward_velocity_can_always_brake_inside_the_box() -> None:
    e = env(max_accel_mps2=1.0)
    p = np.array([0.5, 0.349, 0.4])  # 1 mm from the +y face
    v = e.brakeable_velocity(p, np.array([0.3, 0.3, -0.3]))
    assert v[1] ** 2 / (2 * 1.0) <= 0.001 + 1e-12  # braking distance fits in the 1 mm left
    assert v[0] == pytest.approx(0.3) and v[2] == pytest.approx(-0.3)  # plenty of room there


def test_contact_force_limit_holds_the_press_but_not_the_wipe() -> None:
    e = env(contact_force_limit_n=20.0, contact_backoff_m_per_n=0.001)
    pressing = np.array([0.0, 0.0, -25.0, 0.0, 0.0, 0.0])  # Franka sign: the arm pushes down with 25 N
    # The target goes 10 mm deeper and 5 mm sideways: the depth is taken back, 1 mm per N above the limit beyond
    # the measured TCP, and the sideways motion (the wipe) is kept.
    d = e.check_pose(PoseTarget.of([0.5, 0.005, 0.39], DOWN, NOW, "base"), NOW, HOME, DOWN, pressing)
    assert d.accepted and d.clipped and d.contact_limited
    np.testing.assert_allclose(d.pose.position, [0.5, 0.005, 0.405], atol=1e-12)
    # In a live stream coming down from above, the limited target gets no feed-forward velocity into the contact.
    s = env(contact_force_limit_n=20.0, contact_backoff_m_per_n=0.001)
    assert s.check_pose(PoseTarget.of([0.5, 0.0, 0.42], DOWN, NOW, "base"), NOW, HOME, DOWN, pressing).accepted
    d = s.check_pose(PoseTarget.of([0.5, 0.004, 0.39], DOWN, NOW + 0.02, "base"), NOW + 0.02, HOME, DOWN, pressing)
    assert d.contact_limited and d.velocity[2] >= 0.0 and d.velocity[1] > 0.0, d.velocity
    # Just under the limit a deep target may only go as far as the force left allows: at 17.5 N, 2.5 N * 1 mm/N.
    # (A deep target let through whole there drove the arm past the limit before the next check could pull it back.)
    d = e.check_pose(PoseTarget.of([0.5, 0.0, 0.39], DOWN, NOW, "base"), NOW, HOME, DOWN, pressing * 0.7)
    assert d.accepted and d.contact_limited
    np.testing.assert_allclose(d.pose.position, [0.5, 0.0, 0.3975], atol=1e-12)
    # Lifting away is never limited, nor is anything under the engage fraction of the limit (the wipe's band).
    for target, wrench in (([0.5, 0.0, 0.42], pressing), ([0.5, 0.0, 0.39], pressing * CONTACT_ENGAGE_FRACTION * 0.78)):
        d = e.check_pose(PoseTarget.of(target, DOWN, NOW, "base"), NOW, HOME, DOWN, wrench)
        assert d.accepted and not d.contact_limited
        np.testing.assert_allclose(d.pose.position, target)
    # A sideways contact force limits sideways motion into it; and off (0) means off.
    d = e.limit_contact(np.array([0.52, 0.0, 0.4]), np.array([0.3, 0.0, 0.0]), HOME, np.array([30.0, 0, 0, 0, 0, 0]))
    assert d[2] and d[0][0] <= HOME[0] and d[1][0] == 0.0
    off = env().limit_contact(np.array([0.5, 0.0, 0.3]), np.zeros(3), HOME, pressing)
    assert not off[2] and off[0][2] == 0.3


def test_joint_targets() -> None:
    e = env(max_joint_step_rad=0.3)
    q0 = np.array([0.0, 0.0, 0.0, -1.57, 0.0, 1.57, 0.785])
    ok = e.check_joints(JointTarget.of(q0 + 0.1, NOW), NOW, q0, ee_position=[0.5, 0.0, 0.4])
    assert ok.accepted and ok.joints is not None
    assert e.check_joints(JointTarget.of(q0[:6], NOW), NOW, q0).reason == "bad_shape"
    assert e.check_joints(JointTarget.of([*q0[:6], math.nan], NOW), NOW, q0).reason == "nan_inf"
    beyond = q0.copy()
    beyond[3] = FR3_Q_MAX[3] + 0.01
    assert e.check_joints(JointTarget.of(beyond, NOW), NOW, beyond).reason == "joint_limit"
    low = q0.copy()
    low[5] = FR3_Q_MIN[5]  # on the limit: inside the margin, refused
    assert e.check_joints(JointTarget.of(low, NOW), NOW, low).reason == "joint_limit"
    assert e.check_joints(JointTarget.of(q0 + 0.5, NOW), NOW, q0).reason == "step_too_large"
    assert e.check_joints(JointTarget.of(q0, NOW - 1.0), NOW, q0).reason == "stale"
    outside = e.check_joints(JointTarget.of(q0, NOW), NOW, q0, ee_position=[0.5, 0.0, 0.0])
    assert outside.reason == "out_of_workspace"


def test_force_violation_uses_the_force_norm_and_refuses_garbage() -> None:
    e = env(max_force_n=40.0)
    assert e.force_violation(np.array([20.0, 20.0, 20.0, 5.0, 5.0, 5.0])) == ""  # 34.6 N
    assert "41.6 N" in e.force_violation(np.array([24.0, 24.0, 24.0, 0.0, 0.0, 0.0]))
    assert "invalid" in e.force_violation(np.array([0.0, math.nan, 0.0, 0.0, 0.0, 0.0]))
    assert "invalid" in e.force_violation(np.zeros(7))  # 7 joint torques are not a wrench


@pytest.mark.parametrize(
    "kw",
    [
        {"workspace_min": (0.8, -0.35, 0.02)},
        {"workspace_mode": "bounce"},
        {"max_step_m": 0.0},
        {"max_force_n": math.nan},
        {"watchdog_timeout_s": -1.0},
        {"contact_force_limit_n": -1.0},
        {"contact_force_limit_n": 50.0},
    ],
)
def test_bad_limits_are_refused_at_construction(kw: dict) -> None:
    with pytest.raises(ValueError, match=next(iter(kw))):
        EnvelopeConfig(**kw)


def test_config_from_node_parameters() -> None:
    c = EnvelopeConfig.from_params({"workspace_min": [0.1, -0.2, 0.0], "max_force_n": 25.0, "robot_ip": "x"})
    assert c.workspace_min == (0.1, -0.2, 0.0) and c.max_force_n == 25.0 and c.max_step_m == 0.05


def test_rejection_log_counts_every_one_but_logs_once_per_burst() -> None:
    log = RejectionLog(burst_gap_s=1.0)
    firsts = [log.record("nan_inf", "x", 10.0 + 0.02 * i) for i in range(50)]
    assert firsts == [True] + [False] * 49
    assert log.record("stale", "y", 11.0)  # another reason starts its own burst
    assert log.record("nan_inf", "x", 13.0)  # after a 2 s pause: a new burst
    assert log.counts["nan_inf"] == 51 and log.total == 52
    rep = log.report()
    assert rep["rejected_total"] == "52" and rep["rejected.nan_inf"] == "51"
    assert rep["last_rejection"].startswith("nan_inf")


def test_watchdog_fires_once_per_silence() -> None:
    w = CommandWatchdog(0.25)
    assert not w.expired(0.0)  # never fed: not under control, nothing to hold
    w.feed(1.0)
    assert not w.expired(1.2)
    assert w.expired(1.3)
    assert not w.expired(2.0)  # disarmed until the next target
    w.feed(2.0)
    assert w.armed
    with pytest.raises(ValueError):
        CommandWatchdog(0.0)
