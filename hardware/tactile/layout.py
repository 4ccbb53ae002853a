"""Layout convention of tactile Float32MultiArray messages (ROS-free, shared by producer and consumers).

std_msgs/Float32MultiArray has no header, so the capture stamp rides in the layout: the first
dimension's label is "<name>@<stamp_ns>" (e.g. "rows@1718000000123456789"); sizes and strides are
the usual row-major ones. `stamp_from_labels` reads it back (None when absent).
"""

from __future__ import annotations

from collections.abc import Sequence


def layout_dims(shape: Sequence[int], names: Sequence[str], stamp_s: float) -> list[tuple[str, int, int]]:
    """(label, size, stride) per dimension, row-major, the stamp in the first label."""
    if len(shape) != len(names) or not shape:
        raise ValueError(f"layout needs one name per dimension, got shape {tuple(shape)} names {tuple(names)}")
    strides = []
    acc = 1
    for n in reversed(shape):
        acc *= int(n)
        strides.append(acc)
    strides.reverse()
    labels = [f"{names[0]}@{round(stamp_s * 1e9)}", *names[1:]]
    return [(lbl, int(n), s) for lbl, n, s in zip(labels, shape, strides, strict=True)]


def stamp_from_labels(labels: Sequence[str]) -> float | None:
    """The capture stamp (s) from the dimension labels, or None."""
    if not labels or "@" not in labels[0]:
        return None
    try:
        return int(labels[0].rsplit("@", 1)[1]) * 1e-9
    except ValueError:
        return None
