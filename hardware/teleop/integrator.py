"""Twist commands -> Cartesian pose targets, anchored at the measured TCP (the deadman lives here)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hardware.teleop.command import TeleopCommand


def _quat_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product of quaternions [x, y, z, w]."""
    ax, ay, az, aw = a
    bx, by, bz, bw = b
    return np.array(
        [
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
            aw * bw - ax * bx - ay * by - az * bz,
        ]
    )


def _rotvec_quat(v: np.ndarray) -> np.ndarray:
    angle = float(np.linalg.norm(v))
    if angle < 1e-12:
        return np.array([0.0, 0.0, 0.0, 1.0])
    axis = v / angle
    return np.concatenate([axis * np.sin(angle / 2), [np.cos(angle / 2)]])


@dataclass(frozen=True)
class IntegratorLimits:
    max_linear_mps: float = 0.15
    max_angular_rps: float = 0.5
    max_lead_m: float = 0.02  # how far the target may run ahead of the measured TCP


class TargetIntegrator:
    """Integrates the active twist into a pose target [x, y, z, qx, qy, qz, qw].

    While the device is quiet, `step` returns None (no target is published, so the arm's watchdog holds),
    and the next motion re-anchors at the measured pose, so an idle period never causes a jump.
    """

    def __init__(self, limits: IntegratorLimits | None = None) -> None:
        self.limits = limits or IntegratorLimits()
        self.target: np.ndarray | None = None
        self.engaged = False

    def step(self, cmd: TeleopCommand, measured_pose: np.ndarray | None, now_s: float, dt: float) -> np.ndarray | None:
        if measured_pose is None or not cmd.moving(now_s):
            self.engaged = False
            return None
        if not self.engaged or self.target is None:
            self.target = measured_pose.astype(float).copy()
            self.engaged = True
        lin = np.asarray(cmd.linear, dtype=float)
        speed = float(np.linalg.norm(lin))
        if speed > self.limits.max_linear_mps:
            lin = lin * (self.limits.max_linear_mps / speed)
        ang = np.asarray(cmd.angular, dtype=float)
        rate = float(np.linalg.norm(ang))
        if rate > self.limits.max_angular_rps:
            ang = ang * (self.limits.max_angular_rps / rate)
        nxt = self.target.copy()
        nxt[:3] += lin * dt
        lead = nxt[:3] - measured_pose[:3]
        dist = float(np.linalg.norm(lead))
        if dist > self.limits.max_lead_m:  # do not wind up far ahead of an arm that is blocked or slow
            nxt[:3] = measured_pose[:3] + lead * (self.limits.max_lead_m / dist)
        q = _quat_mul(_rotvec_quat(ang * dt), nxt[3:7])
        nxt[3:7] = q / np.linalg.norm(q)
        self.target = nxt
        return nxt.copy()
