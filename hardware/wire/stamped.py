"""Header stamps, geometry_msgs/PoseStamped and sensor_msgs/JointState to and from CDR bytes (see `hardware.wire`)."""

from __future__ import annotations

import struct

import numpy as np

from hardware.wire.multiarray import CDR_LE, LE_U32, U32, byte_order

_STAMP = {"<": struct.Struct("<iI"), ">": struct.Struct(">iI")}
_POSE = {"<": struct.Struct("<7d"), ">": struct.Struct(">7d")}
_F64 = {"<": struct.Struct("<d"), ">": struct.Struct(">d")}
_HEAD = 4  # the encapsulation header; CDR alignment counts from its end


def header_stamp_ns(data: bytes | memoryview) -> int:
    """The header stamp (ns) of a stamped message (`std_msgs/Header` first); ValueError if `data` is too short."""
    if len(data) < 12:
        raise ValueError(f"CDR message of {len(data)} bytes is too short to hold a header stamp")
    return _stamp_ns(data, "<" if data[1] & 1 else ">")


def _stamp_ns(data: bytes | memoryview, order: str) -> int:
    sec, nsec = _STAMP[order].unpack_from(data, _HEAD)
    return sec * 1_000_000_000 + nsec


def _after_header(data: bytes | memoryview, order: str, what: str) -> int:
    """Offset of the first field after the header (stamp, frame_id)."""
    try:
        (n,) = U32[order].unpack_from(data, _HEAD + 8)
    except struct.error:
        raise ValueError(f"truncated {what} header ({len(data)} bytes)") from None
    end = _HEAD + 12 + n
    if n == 0 or end > len(data):
        raise ValueError(f"{what}: a frame_id of {n} bytes does not fit in {len(data)} bytes")
    return end


def _align(off: int, size: int) -> int:
    return off + (-(off - _HEAD) % size)


class PoseStampedEncoder:
    """Serialized PoseStamped for one frame_id: the same message as rclpy serializes (padding bytes are zeros here).

    A target's stamp and pose are packed behind a frame_id built once."""

    def __init__(self, frame_id: str) -> None:
        self.frame_id = frame_id
        raw = frame_id.encode() + b"\x00"
        frame = LE_U32.pack(len(raw)) + raw  # after the 8-byte stamp; then padding to align the doubles to 8
        self._frame = frame + b"\x00" * (-(8 + len(frame)) % 8)

    def encode(self, stamp_s: float, pose: np.ndarray) -> bytes:
        """The message for `pose` [x, y, z, qx, qy, qz, qw] stamped `stamp_s` (rounded once to whole ns)."""
        ns = round(stamp_s * 1e9)
        values = np.asarray(pose, "<f8")
        if values.shape != (7,):
            raise ValueError(f"a pose is 7 values [x, y, z, qx, qy, qz, qw], got shape {values.shape}")
        stamp = _STAMP["<"].pack(ns // 1_000_000_000, ns % 1_000_000_000)
        return b"".join((CDR_LE, stamp, self._frame, values.tobytes()))


def decode_pose_stamped(data: bytes | memoryview) -> tuple[float, np.ndarray]:
    """(header stamp in s, [x, y, z, qx, qy, qz, qw]) of a serialized PoseStamped; ValueError if malformed."""
    order = byte_order(data)
    off = _align(_after_header(data, order, "PoseStamped"), 8)
    try:
        pose = _POSE[order].unpack_from(data, off)
    except struct.error:
        raise ValueError(f"truncated PoseStamped ({len(data)} bytes)") from None
    return _stamp_ns(data, order) * 1e-9, np.array(pose)


def decode_joint_state_position(data: bytes | memoryview, index: int = 0) -> tuple[float, float | None]:
    """(header stamp in s, position[index] or None when there are not that many) of a serialized JointState;
    ValueError if malformed up to its positions (velocity and effort, after them, are not read)."""
    order = byte_order(data)
    u32 = U32[order]
    off = _after_header(data, order, "JointState")
    try:
        off = _align(off, 4)
        (names,) = u32.unpack_from(data, off)
        off += 4
        for i in range(names):
            off = _align(off, 4)
            (n,) = u32.unpack_from(data, off)
            if n == 0 or off + 4 + n > len(data):
                raise ValueError(f"JointState: name {i} of {n} bytes does not fit in {len(data)} bytes")
            off += 4 + n
        off = _align(off, 4)
        (count,) = u32.unpack_from(data, off)
        off = _align(off + 4, 8)
        if off + 8 * count > len(data):
            raise ValueError(f"JointState: {count} positions do not fit in {len(data)} bytes")
        value = _F64[order].unpack_from(data, off + 8 * index)[0] if 0 <= index < count else None
    except struct.error:
        raise ValueError(f"truncated JointState ({len(data)} bytes)") from None
    return _stamp_ns(data, order) * 1e-9, value
