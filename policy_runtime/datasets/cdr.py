"""Read a message's header stamp straight from its CDR bytes, without deserializing the message (ROS-free).

A ROS 2 message whose first field is `std_msgs/Header` serializes as: 4 bytes of encapsulation
(byte 1 bit 0 = little endian), then `int32 sec`, `uint32 nanosec`. Reading those 8 bytes is what
lets the recorder and the dataset builder use header stamps of 1 MB images at no cost.
"""

from __future__ import annotations

import struct

_LE = struct.Struct("<iI")
_BE = struct.Struct(">iI")


def header_stamp_ns(data: bytes | memoryview) -> int:
    """The header stamp (ns) of a CDR-serialized stamped message; ValueError if `data` is too short."""
    if len(data) < 12:
        raise ValueError(f"CDR message of {len(data)} bytes is too short to hold a header stamp")
    sec, nsec = (_LE if data[1] & 1 else _BE).unpack_from(data, 4)
    return sec * 1_000_000_000 + nsec
