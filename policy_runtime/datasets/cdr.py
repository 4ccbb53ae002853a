"""Read a header-less message's capture stamp straight from its CDR bytes (ROS-free).

Header-less `*MultiArray` messages of the stack (tactile flow and embedding) carry their capture stamp in
the first layout label, "<name>@<stamp_ns>" (`hardware.tactile.layout`); `layout_stamp_ns` reads it from
the CDR bytes with `hardware.wire.multiarray`, which the touch path uses too. (Stamped messages:
`hardware.wire.stamped.header_stamp_ns` reads the 8 bytes of their header stamp, which lets the recorder and
the dataset builder use header stamps of 1 MB images at no cost.)
"""

from __future__ import annotations

from hardware.tactile.layout import stamp_from_labels
from hardware.wire.multiarray import first_label


def layout_stamp_ns(data: bytes | memoryview) -> int | None:
    """The capture stamp (ns) in the first layout label of a CDR-serialized *MultiArray, or None (none or malformed)."""
    try:
        label = first_label(data)
    except ValueError:
        return None
    stamp = stamp_from_labels([label or ""])
    return None if stamp is None else round(stamp * 1e9)
