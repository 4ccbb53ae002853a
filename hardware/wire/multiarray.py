"""std_msgs/Float32MultiArray to and from CDR bytes: the parts every *MultiArray user shares (see `hardware.wire`).

CDR of std_msgs/Float32MultiArray: a 4-byte encapsulation header (byte 1: 0x01 little endian, 0x00 big endian),
then the layout's dimensions (uint32 count; each a string - uint32 length with the NUL, the bytes, the NUL,
padding to 4 - then uint32 size and stride), uint32 data_offset, and the data (uint32 count, float32 values).
Every field is 4-byte aligned, so no other padding occurs.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

import numpy as np

CDR_BE, CDR_LE = b"\x00\x00\x00\x00", b"\x00\x01\x00\x00"  # plain CDR, options 0 (what Fast DDS writes)
LE_U32, LE_U32X2 = struct.Struct("<I"), struct.Struct("<II")
U32 = {"<": LE_U32, ">": struct.Struct(">I")}


def cdr_string(text: str) -> bytes:
    """A little-endian CDR string padded to 4 bytes (the field after it is a uint32)."""
    raw = text.encode() + b"\x00"
    return LE_U32.pack(len(raw)) + raw + b"\x00" * (-len(raw) % 4)


def _dim(d: Any) -> tuple[str, int, int]:
    return d if isinstance(d, tuple) else (d.label, d.size, d.stride)


def encode_float32_multiarray(dims: Sequence[tuple[str, int, int]] | Sequence[Any], data: np.ndarray) -> bytes:
    """The serialized Float32MultiArray with these (label, size, stride) dimensions (tuples or objects with those
    attributes) and flat `data`, data_offset 0: what `rstack.msg_convert.float_array_msg` builds, as bytes."""
    values = np.ascontiguousarray(data, "<f4").ravel()
    parts = [CDR_LE, LE_U32.pack(len(dims))]
    for label, size, stride in map(_dim, dims):
        parts += (cdr_string(label), LE_U32X2.pack(int(size), int(stride)))
    parts += (LE_U32X2.pack(0, values.size), values.tobytes())
    return b"".join(parts)


def byte_order(data: bytes | memoryview) -> str:
    """'<' or '>' from the encapsulation header; ValueError for anything but plain CDR."""
    head = bytes(data[:4])
    if head == CDR_LE:  # first: what this stack's middleware writes
        return "<"
    if head == CDR_BE:
        return ">"
    raise ValueError(f"not a plain-CDR message (encapsulation {head.hex() or 'missing'}, {len(data)} bytes)")


def first_label(data: bytes | memoryview) -> str | None:
    """The first layout label of a serialized *MultiArray (None without dimensions); ValueError if malformed."""
    u32 = U32[byte_order(data)]
    try:
        (ndim,) = u32.unpack_from(data, 4)
        if ndim == 0:
            return None
        (n,) = u32.unpack_from(data, 8)
    except struct.error:
        raise ValueError(f"truncated MultiArray layout ({len(data)} bytes)") from None
    if n == 0 or 12 + n > len(data):
        raise ValueError(f"a label of {n} bytes does not fit in {len(data)} bytes")
    return bytes(data[12 : 11 + n]).decode(errors="replace")
