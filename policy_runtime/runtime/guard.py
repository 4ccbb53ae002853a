"""Action sanity checks before a target may leave the policy: NaN/Inf, jumps, quaternion norm.

This is the policy's own layer; the arm driver applies its safety envelope again behind it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class GuardLimits:
    """max_jump_m: largest allowed distance between consecutive targets (and from the measured TCP)."""

    max_jump_m: float = 0.03
    quat_tol: float = 1e-3


class ActionGuard:
    """Checks absolute targets [x, y, z, qx, qy, qz, qw, (gripper...)]; remembers the last accepted one."""

    def __init__(self, limits: GuardLimits | None = None) -> None:
        self.limits = limits or GuardLimits()
        self.last: np.ndarray | None = None
        self.rejections: dict[str, int] = {}

    def reset(self) -> None:
        self.last = None

    def check(self, target: np.ndarray, measured_xyz: np.ndarray | None = None) -> str | None:
        """None if `target` may be sent, else the reason it may not (and it is counted)."""
        reason = self.reason(target, measured_xyz)
        if reason is None:
            self.last = target.copy()
        else:
            key = reason.split(":", 1)[0]
            self.rejections[key] = self.rejections.get(key, 0) + 1
        return reason

    def reason(self, target: np.ndarray, measured_xyz: np.ndarray | None = None) -> str | None:
        """What `check` would say, with no effect (nothing remembered, nothing counted)."""
        if target.ndim != 1 or target.shape[0] < 7:
            return f"bad shape: expected [>=7], got {list(target.shape)}"
        if not np.all(np.isfinite(target)):
            return "non-finite: NaN/Inf in the decoded action"
        qn = float(np.linalg.norm(target[3:7]))
        if abs(qn - 1.0) > self.limits.quat_tol:
            return f"bad quaternion: norm {qn:.4f}"
        ref = self.last[:3] if self.last is not None else measured_xyz
        if ref is not None:
            jump = float(np.linalg.norm(target[:3] - ref))
            if jump > self.limits.max_jump_m:
                return f"jump: {jump * 1e3:.1f} mm > {self.limits.max_jump_m * 1e3:.1f} mm"
        return None
