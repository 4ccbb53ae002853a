"""TCP pose and gripper state read straight from their bytes: the same values rclpy's deserialization gives."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from geometry_msgs.msg import PoseStamped
from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import JointState

from hardware.wire.stamped import (
    PoseStampedEncoder,
    decode_joint_state_position,
    decode_pose_stamped,
    header_stamp_ns,
)
from rstack.msg_convert import array_to_pose, pose_to_array
from rstack.node_support import s_to_stamp

SEC, NSEC = 1_763_000_123, 456_789_012
STAMP_S = (SEC * 1_000_000_000 + NSEC) * 1e-9


def _stamp():
    from builtin_interfaces.msg import Time

    return Time(sec=SEC, nanosec=NSEC)


@pytest.mark.parametrize("frame_id", ["", "b", "ba", "bas", "base", "base_", "panda_link0", "x" * 33])
def test_pose_stamped_bytes_read_as_rclpy_reads_them(frame_id):
    """Every frame_id length (each padding before the 8-byte aligned doubles)."""
    pose = np.random.default_rng(len(frame_id)).normal(size=7)
    msg = array_to_pose(pose, _stamp(), frame_id)
    stamp, got = decode_pose_stamped(serialize_message(msg))
    assert stamp == STAMP_S
    np.testing.assert_array_equal(got, pose_to_array(msg))


@pytest.mark.parametrize("frame_id", ["", "b", "ba", "bas", "base", "base_", "panda_link0", "x" * 33])
def test_an_encoded_pose_is_the_message_rclpy_serializes(frame_id):
    pose = np.random.default_rng(len(frame_id) + 1).normal(size=7)
    encoder = PoseStampedEncoder(frame_id)
    for t in (STAMP_S, 5.9999999999, 0.0):  # the stamp rounded once to whole ns, as s_to_stamp does
        mine = encoder.encode(t, pose)
        msg = array_to_pose(pose, s_to_stamp(t), frame_id)
        assert len(mine) == len(serialize_message(msg))
        assert deserialize_message(mine, PoseStamped) == msg
        assert decode_pose_stamped(mine)[0] == header_stamp_ns(mine) * 1e-9


def test_a_pose_of_the_wrong_size_is_refused():
    with pytest.raises(ValueError, match="7 values"):
        PoseStampedEncoder("base").encode(1.0, np.zeros(8))


@pytest.mark.parametrize(
    ("names", "positions"),
    [
        (["finger_joint1", "finger_joint2"], [0.0391, 0.0391]),
        ([], [0.08]),
        (["a"], [1.5, -2.0, 3.0]),
        (["ab", "abc", "abcd", "abcde"], [0.25]),
        (["joint"], []),
    ],
)
@pytest.mark.parametrize("frame_id", ["", "gripper", "abc"])
def test_joint_state_position_bytes_read_as_rclpy_reads_them(names, positions, frame_id):
    msg = JointState(name=names, position=positions, velocity=[0.1] * len(positions), effort=[2.0])
    msg.header.stamp, msg.header.frame_id = _stamp(), frame_id
    data = serialize_message(msg)
    for i in range(len(positions) + 1):
        stamp, got = decode_joint_state_position(data, i)
        assert stamp == STAMP_S
        assert got == (positions[i] if i < len(positions) else None)


def test_every_truncation_is_refused_with_a_value_error():
    pose = serialize_message(array_to_pose(np.arange(7.0), _stamp(), "base"))
    joints = JointState(name=["finger"], position=[0.04])
    joints.header.frame_id = "gripper"
    state = serialize_message(joints)
    state = state[: state.index(struct.pack("<d", 0.04)) + 8]  # up to the positions: velocity, effort are not read
    for n in range(len(pose)):
        with pytest.raises(ValueError):
            decode_pose_stamped(pose[:n])
    assert decode_joint_state_position(state)[1] == 0.04
    for n in range(len(state)):
        with pytest.raises(ValueError):
            decode_joint_state_position(state[:n])


def test_a_big_endian_pose_is_read_as_rclpy_reads_it():
    pose = [0.5, -0.1, 0.3, 0.0, 1.0, 0.0, 0.0]
    data = b"\x00\x00\x00\x00" + struct.pack(">iII", 7, 5, 5) + b"base\x00" + b"\x00" * 7 + struct.pack(">7d", *pose)
    stamp, got = decode_pose_stamped(data)
    assert stamp == pytest.approx(7.000000005)
    assert header_stamp_ns(data) == 7_000_000_005
    np.testing.assert_array_equal(got, pose)


def test_another_encapsulation_is_refused():
    data = bytearray(serialize_message(array_to_pose(np.arange(7.0), _stamp(), "base")))
    data[1] = 0x07  # e.g. XCDR2
    with pytest.raises(ValueError, match="not a plain-CDR message"):
        decode_pose_stamped(bytes(data))
