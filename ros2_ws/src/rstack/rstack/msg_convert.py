"""Conversions between the graph's standard messages and numpy arrays (one place for every node)."""

from __future__ import annotations

import array
from collections.abc import Sequence

import numpy as np
from geometry_msgs.msg import PoseStamped
from sensor_msgs.msg import Image
from std_msgs.msg import Float32MultiArray, MultiArrayDimension

from hardware.tactile.layout import layout_dims


def pose_to_array(msg: PoseStamped) -> np.ndarray:
    """PoseStamped -> [x, y, z, qx, qy, qz, qw]."""
    p, q = msg.pose.position, msg.pose.orientation
    return np.array([p.x, p.y, p.z, q.x, q.y, q.z, q.w])


def array_to_pose(pose: np.ndarray, stamp, frame_id: str) -> PoseStamped:  # stamp: builtin_interfaces/Time
    """[x, y, z, qx, qy, qz, qw] -> PoseStamped with the given header."""
    msg = PoseStamped()
    msg.header.stamp, msg.header.frame_id = stamp, frame_id
    msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = (float(v) for v in pose[:3])
    o = msg.pose.orientation
    o.x, o.y, o.z, o.w = (float(v) for v in pose[3:7])
    return msg


def image_to_rgb(msg: Image) -> np.ndarray:
    """sensor_msgs/Image (rgb8 or bgr8, any row step) -> uint8 [H, W, 3] RGB; ValueError otherwise."""
    if msg.encoding not in ("rgb8", "bgr8"):
        raise ValueError(f"image encoding {msg.encoding!r} is not supported (rgb8, bgr8)")
    rows = np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.step)
    img = rows[:, : msg.width * 3].reshape(msg.height, msg.width, 3)
    return img[..., ::-1] if msg.encoding == "bgr8" else img


def float_array_msg(dims: Sequence[tuple[str, int, int]] | Sequence[object], data: np.ndarray) -> Float32MultiArray:
    """Float32MultiArray from (label, size, stride) tuples or objects with those attributes, and flat data."""
    msg = Float32MultiArray()
    for d in dims:
        label, size, stride = d if isinstance(d, tuple) else (d.label, d.size, d.stride)
        msg.layout.dim.append(MultiArrayDimension(label=label, size=int(size), stride=int(stride)))
    # An array.array('f') is taken as it is; a list is checked value by value in Python (0.1 ms for 600 floats).
    msg.data = array.array("f", np.ascontiguousarray(data, np.float32).tobytes())
    return msg


def tactile_array_msg(values: np.ndarray, names: Sequence[str], stamp_s: float) -> Float32MultiArray:
    """Float32MultiArray in the stack's tactile layout: the capture stamp rides in the first dimension label."""
    return float_array_msg(layout_dims(values.shape, names, stamp_s), values)
