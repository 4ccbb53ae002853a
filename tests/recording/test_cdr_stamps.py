"""Stamps read straight from CDR bytes match what the publisher put in the message."""

from __future__ import annotations

import numpy as np
from rclpy.serialization import serialize_message
from std_msgs.msg import Float32MultiArray, MultiArrayDimension

from hardware.tactile.layout import layout_dims
from hardware.wire.stamped import header_stamp_ns
from policy_runtime.datasets.cdr import layout_stamp_ns


def test_tactile_capture_stamp_is_read_from_the_layout_label():
    stamp_s = 1_718_000_000.123456
    msg = Float32MultiArray(data=np.arange(126, dtype=np.float32).tolist())
    msg.layout.dim = [
        MultiArrayDimension(label=lb, size=n, stride=s)
        for lb, n, s in layout_dims((7, 9, 2), ("rows", "cols", "xy"), stamp_s)
    ]
    ns = layout_stamp_ns(serialize_message(msg))
    assert ns is not None and abs(ns - stamp_s * 1e9) < 1e3  # sub-microsecond


def test_layout_without_a_stamp_and_short_data_give_none():
    msg = Float32MultiArray(data=[1.0])
    msg.layout.dim = [MultiArrayDimension(label="embedding", size=1, stride=1)]
    assert layout_stamp_ns(serialize_message(msg)) is None
    assert layout_stamp_ns(serialize_message(Float32MultiArray())) is None
    assert layout_stamp_ns(b"\x00\x01") is None


def test_header_stamp_of_a_stamped_message():
    from geometry_msgs.msg import PoseStamped

    msg = PoseStamped()
    msg.header.stamp.sec, msg.header.stamp.nanosec = 1234, 567
    assert header_stamp_ns(serialize_message(msg)) == 1234 * 10**9 + 567
