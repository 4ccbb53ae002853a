"""Action representation: TCP-relative xyz + rot6d + gripper width (numpy only, shared by training and runtime).

Layout of one action (A_DIM = 10): ``[dx, dy, dz, r11, r21, r31, r12, r22, r32, gripper_width]``.
``dx..dz`` is the target position expressed in the frame of the TCP measured at the observation the
chunk was planned from; the six ``r`` values are the first two columns of the relative rotation
``R_tcp^T R_target`` (the continuous 6-D rotation representation); the gripper width (m) is absolute.
Poses are ``[x, y, z, qx, qy, qz, qw]`` (ROS geometry_msgs quaternion order).
"""

from __future__ import annotations

import math

import numpy as np

A_DIM = 10
POSE_DIM = 7


def _rotation_entries(x, y, z, w):
    """The nine entries, row by row, of the rotation matrix of the unit quaternion (x, y, z, w)."""
    return (
        1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
        2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
        2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y),
    )  # fmt: skip


def _quat_from_rows(r) -> tuple[float, float, float, float]:
    """The quaternion (x, y, z, w) of one rotation matrix `r[i][j]` (the branch on its largest diagonal term);
    its sign is not fixed."""
    tr = r[0][0] + r[1][1] + r[2][2]
    if tr > 0:
        s = 2.0 * math.sqrt(tr + 1.0)
        return (r[2][1] - r[1][2]) / s, (r[0][2] - r[2][0]) / s, (r[1][0] - r[0][1]) / s, 0.25 * s
    if r[0][0] > r[1][1] and r[0][0] > r[2][2]:
        s = 2.0 * math.sqrt(1.0 + r[0][0] - r[1][1] - r[2][2])
        return 0.25 * s, (r[0][1] + r[1][0]) / s, (r[0][2] + r[2][0]) / s, (r[2][1] - r[1][2]) / s
    if r[1][1] > r[2][2]:
        s = 2.0 * math.sqrt(1.0 + r[1][1] - r[0][0] - r[2][2])
        return (r[0][1] + r[1][0]) / s, 0.25 * s, (r[1][2] + r[2][1]) / s, (r[0][2] - r[2][0]) / s
    s = 2.0 * math.sqrt(1.0 + r[2][2] - r[0][0] - r[1][1])
    return (r[0][2] + r[2][0]) / s, (r[1][2] + r[2][1]) / s, 0.25 * s, (r[1][0] - r[0][1]) / s


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """Unit quaternions ``[..., 4]`` (x, y, z, w) -> rotation matrices ``[..., 3, 3]``."""
    q = np.asarray(q, dtype=np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    m = np.stack(_rotation_entries(q[..., 0], q[..., 1], q[..., 2], q[..., 3]), axis=-1)
    return m.reshape((*q.shape[:-1], 3, 3))


def matrix_to_quat(m: np.ndarray) -> np.ndarray:
    """Rotation matrices ``[..., 3, 3]`` -> unit quaternions ``[..., 4]`` (x, y, z, w), w >= 0."""
    m = np.asarray(m, dtype=np.float64)
    flat = m.reshape(-1, 3, 3)
    out = np.empty((flat.shape[0], 4))
    for i, r in enumerate(flat):
        out[i] = _quat_from_rows(r.tolist())
    out *= np.where(out[:, 3:4] < 0, -1.0, 1.0)
    return out.reshape((*m.shape[:-2], 4))


def matrix_to_rot6d(m: np.ndarray) -> np.ndarray:
    """Rotation matrices ``[..., 3, 3]`` -> first two columns ``[..., 6]``."""
    return np.concatenate([m[..., :, 0], m[..., :, 1]], axis=-1)


def rot6d_to_matrix(r: np.ndarray) -> np.ndarray:
    """6-D rotations ``[..., 6]`` -> rotation matrices by Gram-Schmidt (robust to small decoding errors)."""
    r = np.asarray(r, dtype=np.float64)
    a, b = r[..., :3], r[..., 3:6]
    c1 = a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-9)
    b = b - np.sum(c1 * b, axis=-1, keepdims=True) * c1
    c2 = b / np.maximum(np.linalg.norm(b, axis=-1, keepdims=True), 1e-9)
    c3 = np.cross(c1, c2)
    return np.stack([c1, c2, c3], axis=-1)


def absolute_to_relative(targets: np.ndarray, tcp_pose: np.ndarray) -> np.ndarray:
    """Absolute actions ``[..., 10]`` (base-frame xyz + rot6d + gripper) -> relative to one TCP pose ``[7]``."""
    targets = np.asarray(targets, dtype=np.float64)
    r_tcp = quat_to_matrix(tcp_pose[3:7])
    rel = np.empty_like(targets)
    rel[..., :3] = (targets[..., :3] - tcp_pose[:3]) @ r_tcp  # R^T (p - p_tcp), row-vector form
    rel[..., 3:9] = matrix_to_rot6d(r_tcp.T @ rot6d_to_matrix(targets[..., 3:9]))
    rel[..., 9] = targets[..., 9]
    return rel


def relative_to_absolute(actions: np.ndarray, tcp_pose: np.ndarray) -> np.ndarray:
    """Inverse of `absolute_to_relative`: decoded actions ``[..., 10]`` -> base-frame actions ``[..., 10]``."""
    actions = np.asarray(actions, dtype=np.float64)
    r_tcp = quat_to_matrix(tcp_pose[3:7])
    out = np.empty_like(actions)
    out[..., :3] = actions[..., :3] @ r_tcp.T + tcp_pose[:3]
    out[..., 3:9] = matrix_to_rot6d(r_tcp @ rot6d_to_matrix(actions[..., 3:9]))
    out[..., 9] = actions[..., 9]
    return out


def relative_positions_to_absolute(actions: np.ndarray, tcp_pose: np.ndarray) -> np.ndarray:
    """Base-frame positions ``[..., 3]`` of decoded actions ``[..., 10]``: `relative_to_absolute(...)[..., :3]`
    without the rotations, which the failure monitor's chunk positions do not need (B x H of them per planner step:
    0.37 against 1.6 ms at the median for 64 x 32 after a 40 ms pause, time the planner thread holds the GIL)."""
    r_tcp = quat_to_matrix(tcp_pose[3:7])
    return np.asarray(actions, dtype=np.float64)[..., :3] @ r_tcp.T + np.asarray(tcp_pose[:3], dtype=np.float64)


def pose_to_action(pose: np.ndarray, gripper_width: np.ndarray) -> np.ndarray:
    """Poses ``[..., 7]`` and widths ``[...]`` -> absolute actions ``[..., 10]``."""
    pose = np.asarray(pose, dtype=np.float64)
    rot = matrix_to_rot6d(quat_to_matrix(pose[..., 3:7]))
    return np.concatenate([pose[..., :3], rot, np.asarray(gripper_width, np.float64)[..., None]], axis=-1)


def action_to_pose(action: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Absolute actions ``[..., 10]`` -> (poses ``[..., 7]`` xyz + quaternion xyzw, gripper widths ``[...]``)."""
    q = matrix_to_quat(rot6d_to_matrix(action[..., 3:9]))
    return np.concatenate([action[..., :3], q], axis=-1), action[..., 9]


def relative_action_to_target(action: np.ndarray, tcp_pose: np.ndarray) -> np.ndarray:
    """One decoded action ``[10]`` relative to ``tcp_pose`` -> target ``[x, y, z, qx, qy, qz, qw, width]``.

    The same as ``action_to_pose(relative_to_absolute(action, tcp_pose))`` on scalars: the fast head runs it
    every control tick, where numpy's per-call overhead on 3x3 arrays (0.4 ms) was six times the decoder step.
    """
    a = [float(v) for v in action[:10]]
    px, py, pz, qx, qy, qz, qw = (float(v) for v in tcp_pose[:7])
    n = math.sqrt(qx * qx + qy * qy + qz * qz + qw * qw)
    qx, qy, qz, qw = qx / n, qy / n, qz / n, qw / n
    t00, t01, t02, t10, t11, t12, t20, t21, t22 = _rotation_entries(qx, qy, qz, qw)
    dx, dy, dz = a[0], a[1], a[2]
    # The relative rotation's columns by Gram-Schmidt (as rot6d_to_matrix), then R = R_tcp @ R_rel.
    ax, ay, az = a[3], a[4], a[5]
    na = max(math.sqrt(ax * ax + ay * ay + az * az), 1e-9)
    c1 = (ax / na, ay / na, az / na)
    d = c1[0] * a[6] + c1[1] * a[7] + c1[2] * a[8]
    bx, by, bz = a[6] - d * c1[0], a[7] - d * c1[1], a[8] - d * c1[2]
    nb = max(math.sqrt(bx * bx + by * by + bz * bz), 1e-9)
    c2 = (bx / nb, by / nb, bz / nb)
    c3 = (c1[1] * c2[2] - c1[2] * c2[1], c1[2] * c2[0] - c1[0] * c2[2], c1[0] * c2[1] - c1[1] * c2[0])
    rows = ((t00, t01, t02), (t10, t11, t12), (t20, t21, t22))
    r = [[row[0] * c[0] + row[1] * c[1] + row[2] * c[2] for c in (c1, c2, c3)] for row in rows]
    q = _quat_from_rows(r)
    sign = -1.0 if q[3] < 0 else 1.0
    return np.array(
        [
            t00 * dx + t01 * dy + t02 * dz + px,
            t10 * dx + t11 * dy + t12 * dz + py,
            t20 * dx + t21 * dy + t22 * dz + pz,
            sign * q[0], sign * q[1], sign * q[2], sign * q[3],
            a[9],
        ]
    )  # fmt: skip
