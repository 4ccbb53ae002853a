"""Typed snapshots of the arm: the measured state and the targets sent to it (no franky import)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class PoseTarget:
    """A Cartesian TCP target: position (m) and unit quaternion (x, y, z, w) in `frame_id`, stamped (s)."""

    position: np.ndarray
    quaternion: np.ndarray
    stamp_s: float
    frame_id: str = "base"

    @staticmethod
    def of(position, quaternion, stamp_s: float, frame_id: str = "base") -> PoseTarget:
        return PoseTarget(
            np.asarray(position, dtype=float).reshape(-1),
            np.asarray(quaternion, dtype=float).reshape(-1),
            float(stamp_s),
            frame_id,
        )


@dataclass(frozen=True)
class JointTarget:
    """A joint-space target: 7 joint positions (rad), stamped (s)."""

    positions: np.ndarray
    stamp_s: float

    @staticmethod
    def of(positions, stamp_s: float) -> JointTarget:
        return JointTarget(np.asarray(positions, dtype=float).reshape(-1), float(stamp_s))


@dataclass(frozen=True)
class GripperCommand:
    """Move the fingers to `width_m` at `speed_mps`; `force_n > 0` grasps with that force."""

    width_m: float
    speed_mps: float
    force_n: float = 0.0


@dataclass(frozen=True)
class ArmState:
    """One snapshot of the arm, stamped with the driver's clock.

    `wrench` is the estimated 6-D external wrench at the TCP in the base frame (franky's
    O_F_ext_hat_K: force N, torque Nm), never the 7 joint torques (those are `tau_j`).
    """

    stamp_s: float
    robot_time_s: float
    q: np.ndarray
    dq: np.ndarray
    tau_j: np.ndarray
    position: np.ndarray
    quaternion: np.ndarray  # x, y, z, w
    linear_velocity: np.ndarray
    wrench: np.ndarray
    robot_mode: str
    gripper_width_m: float = float("nan")
    gripper_grasped: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def speed_mps(self) -> float:
        return float(np.linalg.norm(self.linear_velocity))

    @property
    def force_n(self) -> float:
        return float(np.linalg.norm(self.wrench[:3]))
