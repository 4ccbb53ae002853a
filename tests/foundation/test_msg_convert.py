"""Tactile arrays on the wire: layout, capture stamp and float32 values survive real serialization."""

from __future__ import annotations

import array

import numpy as np
from rclpy.serialization import deserialize_message, serialize_message
from std_msgs.msg import Float32MultiArray, MultiArrayDimension

from hardware.tactile.layout import stamp_from_labels
from rstack.msg_convert import tactile_array_msg


def test_a_tactile_array_round_trips_through_serialization_with_its_stamp_layout_and_values():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(3, 4, 2)).astype(np.float64)
    values[0, 0, 0], values[1, 2, 1], values[2, 3, 0] = np.nan, np.inf, 1e39  # 1e39 is beyond float32: inf
    stamp = 1_763_000_000.123456789
    with np.errstate(over="ignore"):
        msg = tactile_array_msg(values, ["rows", "cols", "xy"], stamp)
        expected = values.astype(np.float32)
    assert isinstance(msg.data, array.array) and msg.data.typecode == "f"

    wire = serialize_message(msg)
    back = deserialize_message(wire, Float32MultiArray)
    dims = [(d.label.split("@")[0], d.size, d.stride) for d in back.layout.dim]
    assert dims == [("rows", 3, 24), ("cols", 4, 8), ("xy", 2, 2)]
    assert abs(stamp_from_labels([d.label for d in back.layout.dim]) - stamp) < 1e-6
    got = np.asarray(back.data, np.float32).reshape(3, 4, 2)
    np.testing.assert_array_equal(got, expected)  # NaN in place, 1e39 -> inf as float32 casts it

    # The same bytes on the wire as a message built the slow way (a Python list, checked value by value).
    slow = Float32MultiArray()
    slow.layout.dim = [MultiArrayDimension(label=d.label, size=d.size, stride=d.stride) for d in msg.layout.dim]
    slow.data = expected.ravel().tolist()
    assert serialize_message(slow) == wire


def test_a_non_contiguous_array_is_sent_in_row_major_order():
    values = np.arange(12, dtype=np.float32).reshape(3, 4).T  # a transposed view: not C-contiguous
    msg = tactile_array_msg(values, ["rows", "cols"], 1.0)
    np.testing.assert_array_equal(np.asarray(msg.data), values.ravel())
