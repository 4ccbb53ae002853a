"""Tactile Float32MultiArray messages straight to and from their serialized (CDR) bytes (ROS-free).

The stack's touch path sends and takes these bytes instead of rosidl's Python message objects. On the 2-core
machine this project is measured on, code that has not run in the last few milliseconds runs 10-30x slower than
back to back, and touch comes every 10-42 ms: building a `Float32MultiArray` and having rclpy serialize it took
0.26 ms at the median after a 24 Hz period asleep, and taking one as a message object and reading its stamp and
values 0.27 ms. Those sit on the touch -> target path, whose p99 budget is 2 ms; this module does them in 0.09 and
0.12 ms (`bench/bench_wire.py`).

The bytes are the standard message, so every other subscriber (the recorder, `ros2 topic echo`, a bag) reads them
as a Float32MultiArray. The tests check both directions against rclpy's serialization.

The CDR layout, and the parts that are not tactile-specific, are in `hardware.wire.multiarray`.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Sequence

import numpy as np

from hardware.tactile.layout import layout_dims, stamp_from_labels
from hardware.wire.multiarray import CDR_LE, LE_U32, LE_U32X2, U32, byte_order, cdr_string, first_label


class TactileArrayEncoder:
    """Serialized Float32MultiArray in the stack's tactile layout (`hardware.tactile.layout`), one fixed shape.

    Everything but the stamp in the first label and the values is built once. The same message as
    `rstack.msg_convert.tactile_array_msg` serialized by rclpy (padding bytes are zeros here)."""

    def __init__(self, shape: Sequence[int], names: Sequence[str]) -> None:
        dims = layout_dims(shape, names, 0.0)  # raises on a shape/names mismatch
        self.shape = tuple(int(n) for n in shape)
        self._name = names[0]
        self._head = CDR_LE + LE_U32.pack(len(dims))
        rest = b"".join(cdr_string(label) + LE_U32X2.pack(n, s) for label, n, s in dims[1:])
        # the first dimension's size and stride, the other dimensions, data_offset 0, the number of values
        self._tail = LE_U32X2.pack(dims[0][1], dims[0][2]) + rest + LE_U32X2.pack(0, int(np.prod(self.shape)))

    def encode(self, values: np.ndarray, stamp_s: float) -> bytes:
        """The message for `values` (of this encoder's shape, any float dtype) captured at `stamp_s`."""
        data = np.asarray(values, "<f4")
        if data.shape != self.shape:
            raise ValueError(f"tactile values of shape {data.shape}, expected {self.shape}")
        label = cdr_string(f"{self._name}@{round(stamp_s * 1e9)}")
        return b"".join((self._head, label, self._tail, data.tobytes()))


@functools.lru_cache(maxsize=64)
def _encoder(shape: tuple[int, ...], names: tuple[str, ...]) -> TactileArrayEncoder:
    return TactileArrayEncoder(shape, names)


def encode_tactile_array(values: np.ndarray, names: Sequence[str], stamp_s: float) -> bytes:
    """`tactile_array_msg(values, names, stamp_s)` as bytes, for `Publisher.publish` (an encoder kept per layout)."""
    values = np.asarray(values)
    return _encoder(values.shape, tuple(names)).encode(values, stamp_s)


def decode_tactile_array(data: bytes | memoryview) -> tuple[float | None, np.ndarray]:
    """(capture stamp in s or None, flat float32 values) of a serialized Float32MultiArray; ValueError if malformed."""
    order = byte_order(data)
    u32 = U32[order]
    try:
        (ndim,) = u32.unpack_from(data, 4)
        off = 8
        for i in range(ndim):
            (n,) = u32.unpack_from(data, off)
            if n == 0 or off + 4 + n > len(data):
                raise ValueError(f"dimension {i}: a label of {n} bytes does not fit in {len(data)} bytes")
            off += 4 + n + (-n % 4) + 8  # the label (padded), size, stride
        (count,) = u32.unpack_from(data, off + 4)  # after data_offset
    except struct.error:
        raise ValueError(f"truncated Float32MultiArray ({len(data)} bytes)") from None
    off += 8
    if off + 4 * count > len(data):
        raise ValueError(f"{count} values do not fit in a Float32MultiArray of {len(data)} bytes")
    values = np.frombuffer(data, order + "f4", count, off).astype(np.float32)  # a copy, native order
    return stamp_from_labels([first_label(data) or ""]), values
