"""Read a message's header stamp straight from its CDR bytes, without deserializing the message (ROS-free).

A ROS 2 message whose first field is `std_msgs/Header` serializes as: 4 bytes of encapsulation
(byte 1 bit 0 = little endian), then `int32 sec`, `uint32 nanosec`. Reading those 8 bytes is what
lets the recorder and the dataset builder use header stamps of 1 MB images at no cost.

Header-less `*MultiArray` messages of the stack (tactile flow and embedding) carry their capture stamp in
the first layout label, "<name>@<stamp_ns>" (`hardware.tactile.layout`); `layout_stamp_ns` reads it from
the CDR bytes with `hardware.multiarray_wire`, which the touch path uses too.
"""

from __future__ import annotations

import struct

from hardware.multiarray_wire import first_label
from hardware.tactile.layout import stamp_from_labels

_LE = struct.Struct("<iI")
_BE = struct.Struct(">iI")


def header_stamp_ns(data: bytes | memoryview) -> int:
    """The header stamp (ns) of a CDR-serialized stamped message; ValueError if `data` is too short."""
    if len(data) < 12:
        raise ValueError(f"CDR message of {len(data)} bytes is too short to hold a header stamp")
    sec, nsec = (_LE if data[1] & 1 else _BE).unpack_from(data, 4)
    return sec * 1_000_000_000 + nsec


def layout_stamp_ns(data: bytes | memoryview) -> int | None:
    """The capture stamp (ns) in the first layout label of a CDR-serialized *MultiArray, or None (none or malformed)."""
    try:
        label = first_label(data)
    except ValueError:
        return None
    stamp = stamp_from_labels([label or ""])
    return None if stamp is None else round(stamp * 1e9)
