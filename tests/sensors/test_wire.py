"""Touch on the wire without rosidl's message objects: the same message as rclpy's serialization, both ways."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from rclpy.serialization import deserialize_message, serialize_message
from std_msgs.msg import Float32MultiArray

from hardware.tactile.layout import stamp_from_labels
from hardware.tactile.wire import TactileArrayEncoder, decode_tactile_array, encode_tactile_array
from hardware.wire.multiarray import encode_float32_multiarray, first_label
from policy_runtime.fiper.messages import encode_chunks, encode_embedding
from rstack.msg_convert import float_array_msg, tactile_array_msg

STAMP = 1_763_000_000.123456789
# Names whose first label ("name@<19 digits>" + NUL) needs each of the four paddings, and a second label that does too.
LAYOUTS = [
    ((16,), ["features"]),
    ((7, 9, 2), ["rows", "cols", "xy"]),
    ((5,), ["f"]),
    ((2, 3), ["ab", "cde"]),
    ((1,), ["abc"]),
]


@pytest.mark.parametrize(("shape", "names"), LAYOUTS)
def test_encoded_bytes_are_the_message_rclpy_serializes(shape, names):
    values = np.random.default_rng(1).normal(size=shape)
    mine = encode_tactile_array(values, names, STAMP)
    msg = tactile_array_msg(values, names, STAMP)
    assert len(mine) == len(serialize_message(msg))
    assert deserialize_message(mine, Float32MultiArray) == msg  # every label, size, stride and value


@pytest.mark.parametrize(("shape", "names"), LAYOUTS)
def test_decoding_rclpys_bytes_gives_the_stamp_and_the_values(shape, names):
    values = np.random.default_rng(2).normal(size=shape).astype(np.float32)
    stamp, got = decode_tactile_array(serialize_message(tactile_array_msg(values, names, STAMP)))
    assert stamp == stamp_from_labels([f"x@{round(STAMP * 1e9)}"])
    assert got.dtype == np.float32 and got.flags.writeable
    np.testing.assert_array_equal(got, values.ravel())


def test_no_stamp_or_no_dimensions_decode_to_no_stamp():
    plain = float_array_msg([("features", 3, 3)], np.ones(3))
    assert decode_tactile_array(serialize_message(plain))[0] is None
    stamp, values = decode_tactile_array(serialize_message(float_array_msg([], np.arange(4.0))))
    assert stamp is None
    np.testing.assert_array_equal(values, np.arange(4.0, dtype=np.float32))


def test_non_finite_values_and_non_contiguous_arrays_keep_their_values_and_order():
    values = np.arange(12, dtype=np.float64).reshape(3, 4).T  # not C-contiguous
    values[0, 0], values[1, 1] = np.nan, np.inf
    _, got = decode_tactile_array(encode_tactile_array(values, ["rows", "cols"], STAMP))
    np.testing.assert_array_equal(got, values.astype(np.float32).ravel())


def test_every_truncation_of_a_message_is_refused_with_a_value_error():
    wire = encode_tactile_array(np.arange(6.0), ["features"], STAMP)
    for n in range(len(wire)):
        with pytest.raises(ValueError):
            decode_tactile_array(wire[:n])


def test_a_label_length_beyond_the_buffer_is_refused():
    wire = bytearray(encode_tactile_array(np.arange(3.0), ["features"], STAMP))
    struct.pack_into("<I", wire, 8, 10_000)  # the first label's length
    with pytest.raises(ValueError, match="does not fit"):
        decode_tactile_array(bytes(wire))


def test_a_big_endian_message_is_read_as_rclpy_reads_it():
    label = b"features@5000000000\x00"  # 20 bytes: no padding
    values = np.array([1.5, -2.0, 3.25], ">f4")
    wire = b"\x00\x00\x00\x00" + struct.pack(">II", 1, len(label)) + label + struct.pack(">IIII", 3, 3, 0, 3)
    stamp, got = decode_tactile_array(wire + values.tobytes())
    assert stamp == 5.0
    np.testing.assert_array_equal(got, values.astype(np.float32))
    np.testing.assert_array_equal(got, deserialize_message(wire + values.tobytes(), Float32MultiArray).data)


def test_another_encapsulation_is_refused_with_what_it_was():
    wire = bytearray(encode_tactile_array(np.arange(3.0), ["features"], STAMP))
    wire[1] = 0x07  # plain CDR2, little endian: not what the stack's middleware writes
    with pytest.raises(ValueError, match="encapsulation 00070000"):
        decode_tactile_array(bytes(wire))


def test_values_of_another_shape_are_refused_by_the_encoder():
    enc = TactileArrayEncoder((16,), ["features"])
    with pytest.raises(ValueError, match=r"shape \(15,\)"):
        enc.encode(np.zeros(15), STAMP)
    with pytest.raises(ValueError, match="one name per dimension"):
        TactileArrayEncoder((2, 3), ["rows"])


@pytest.mark.parametrize("step", [0, 7, 123456])
def test_the_policys_feature_messages_as_bytes_are_the_messages_rclpy_serializes(step):
    """The monitor features (`policy_runtime.fiper.messages`) published as bytes read back as the same message."""
    rng = np.random.default_rng(step)
    for dims, data in (encode_embedding(step, rng.normal(size=24)), encode_chunks(step, rng.normal(size=(5, 8, 3)))):
        mine = encode_float32_multiarray(dims, data)
        msg = float_array_msg(dims, data)
        assert len(mine) == len(serialize_message(msg))
        got = deserialize_message(mine, Float32MultiArray)
        assert got == msg
        assert first_label(mine) == f"planner_step={step}"


def test_an_empty_multiarray_encodes_as_rclpy_does():
    assert deserialize_message(encode_float32_multiarray([], np.zeros(0)), Float32MultiArray) == Float32MultiArray()
