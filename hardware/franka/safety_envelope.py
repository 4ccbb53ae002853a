"""The arm's safety envelope: every command is checked here before franky sees it (pure logic).

Each check names its reason, so rejections can be counted and reported:
`nan_inf`, `wrong_frame`, `non_unit_quaternion`, `stale`, `future_stamp`, `out_of_workspace`,
`step_too_large`, `rotation_step_too_large`, `joint_limit`, `bad_shape`.
A clamped (not rejected) command comes back with `clipped=True` and the values actually allowed,
so callers and recordings see the truth. A target is compared against the last accepted command
while a stream is live (within the watchdog timeout), otherwise against the measured pose.

Contact force limit (a declarative reaction, `contact_force_limit_n`, 0 = off): once the measured contact
force passes `CONTACT_ENGAGE_FRACTION` of the limit, a target may press along that force at most
`contact_backoff_m_per_n` per newton still left below the limit beyond the measured TCP, and above the limit it is
pulled back by as much per newton over it, so the arm eases off instead of pressing on to the hard stop
(`max_force_n`). The rule is continuous through the limit: a deep target that arrives while the force dips just
under the limit cannot drive the arm in at full depth. Motion across the contact is left alone (a wipe goes on).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from hardware.franka.state import JointTarget, PoseTarget

# FR3 joint position limits (rad), from Franka's robot specification.
FR3_Q_MIN = np.array([-2.7437, -1.7837, -2.9007, -3.0421, -2.8065, 0.5445, -3.0159])
FR3_Q_MAX = np.array([2.7437, 1.7837, 2.9007, -0.1518, 2.8065, 4.5169, 3.0159])

# Below this fraction of the contact force limit the limit leaves targets alone (the wipe's force band lies there).
CONTACT_ENGAGE_FRACTION = 0.75

REASONS = (
    "nan_inf",
    "bad_shape",
    "wrong_frame",
    "non_unit_quaternion",
    "stale",
    "future_stamp",
    "out_of_workspace",
    "step_too_large",
    "rotation_step_too_large",
    "joint_limit",
)


@dataclass(frozen=True)
class EnvelopeConfig:
    """The limits, one per parameter of the franka node."""

    workspace_min: tuple[float, float, float] = (0.25, -0.35, 0.02)
    workspace_max: tuple[float, float, float] = (0.75, 0.35, 0.60)
    workspace_mode: str = "reject"  # or "clamp"
    max_step_m: float = 0.05
    max_rotation_step_rad: float = 0.5
    max_speed_mps: float = 0.5
    max_accel_mps2: float = 2.0
    max_target_age_s: float = 0.2
    max_force_n: float = 40.0
    contact_force_limit_n: float = 0.0  # 0 = off
    contact_backoff_m_per_n: float = 0.0005
    watchdog_timeout_s: float = 0.25
    frame_id: str = "base"
    quaternion_tolerance: float = 0.01
    max_joint_step_rad: float = 0.5
    joint_limit_margin_rad: float = 0.02

    def __post_init__(self) -> None:
        lo, hi = np.asarray(self.workspace_min, float), np.asarray(self.workspace_max, float)
        if lo.shape != (3,) or hi.shape != (3,) or not np.all(lo < hi):
            raise ValueError(
                f"workspace_min {self.workspace_min} must be 3 values below workspace_max {self.workspace_max}"
            )
        if self.workspace_mode not in ("reject", "clamp"):
            raise ValueError(f"workspace_mode must be 'reject' or 'clamp', got {self.workspace_mode!r}")
        for name in ("max_step_m", "max_speed_mps", "max_accel_mps2", "max_target_age_s", "max_force_n",
                     "watchdog_timeout_s", "max_rotation_step_rad", "max_joint_step_rad"):  # fmt: skip
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be a positive number, got {v!r}")
        for name in ("contact_force_limit_n", "contact_backoff_m_per_n"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise ValueError(f"{name} must be a number >= 0 (0 = off), got {v!r}")
        if self.contact_force_limit_n >= self.max_force_n:
            raise ValueError(
                f"contact_force_limit_n {self.contact_force_limit_n} must be below max_force_n {self.max_force_n}"
                " (the limit eases off before the hard stop)"
            )

    @staticmethod
    def from_params(params: dict[str, Any]) -> EnvelopeConfig:
        """Build from a parameter dict (unknown keys ignored, missing keys take the defaults)."""
        known = {f for f in EnvelopeConfig.__dataclass_fields__}
        kw = {k: v for k, v in params.items() if k in known}
        for k in ("workspace_min", "workspace_max"):
            if k in kw:
                kw[k] = tuple(float(x) for x in kw[k])
        return EnvelopeConfig(**kw)


@dataclass(frozen=True)
class Decision:
    """The verdict on one command: accepted (maybe clipped) or rejected with a reason."""

    accepted: bool
    reason: str = ""
    detail: str = ""
    pose: PoseTarget | None = None
    joints: JointTarget | None = None
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(3))
    clipped: bool = False
    contact_limited: bool = False

    @staticmethod
    def reject(reason: str, detail: str) -> Decision:
        return Decision(False, reason, detail)


def quaternion_angle(a: np.ndarray, b: np.ndarray) -> float:
    """Rotation angle (rad) between two unit quaternions."""
    d = abs(float(np.dot(a / np.linalg.norm(a), b / np.linalg.norm(b))))
    return 2.0 * math.acos(min(1.0, d))


class SafetyEnvelope:
    """Checks and (where configured) clamps targets; holds no state about the robot except the last command."""

    def __init__(self, config: EnvelopeConfig) -> None:
        self.config = config
        self.lo = np.asarray(config.workspace_min, float)
        self.hi = np.asarray(config.workspace_max, float)
        self.last: PoseTarget | None = None
        self.last_accept_s: float = -math.inf

    def forget(self) -> None:
        """Drop the last command (after a stop, hold or reset the next target is compared to the measured pose)."""
        self.last = None
        self.last_accept_s = -math.inf

    # ------------------------------------------------------------------ common checks
    def _check_stamp(self, stamp_s: float, now_s: float) -> Decision | None:
        age = now_s - stamp_s
        if age > self.config.max_target_age_s:
            return Decision.reject("stale", f"stamp is {age:.3f}s old (max {self.config.max_target_age_s}s)")
        if age < -self.config.max_target_age_s:
            return Decision.reject("future_stamp", f"stamp is {-age:.3f}s in the future (clock skew?)")
        return None

    def in_workspace(self, p: np.ndarray) -> bool:
        return bool(np.all(p >= self.lo) and np.all(p <= self.hi))

    # ------------------------------------------------------------------ Cartesian targets
    def check_pose(
        self,
        target: PoseTarget,
        now_s: float,
        measured_position: np.ndarray,
        measured_quaternion: np.ndarray,
        measured_wrench: np.ndarray | None = None,
    ) -> Decision:
        """Validate one Cartesian target; on acceptance remember it as the stream's last command.

        `measured_wrench` (Franka's sign: what the robot exerts on its surroundings) drives the contact force limit.
        """
        c = self.config
        p, q = target.position, target.quaternion
        if p.shape != (3,) or q.shape != (4,):
            return Decision.reject("bad_shape", f"position {p.shape}, quaternion {q.shape}: want (3,), (4,)")
        if not (np.all(np.isfinite(p)) and np.all(np.isfinite(q)) and math.isfinite(target.stamp_s)):
            return Decision.reject("nan_inf", f"non-finite target position={p.tolist()} quaternion={q.tolist()}")
        if target.frame_id != c.frame_id:
            return Decision.reject("wrong_frame", f"frame_id {target.frame_id!r}, expected {c.frame_id!r}")
        n = float(np.linalg.norm(q))
        if abs(n - 1.0) > c.quaternion_tolerance:
            return Decision.reject(
                "non_unit_quaternion", f"quaternion norm {n:.4f} (tolerance {c.quaternion_tolerance})"
            )
        if (d := self._check_stamp(target.stamp_s, now_s)) is not None:
            return d
        q = q / n
        clipped = False
        if not self.in_workspace(p):
            if c.workspace_mode == "reject":
                return Decision.reject(
                    "out_of_workspace",
                    f"position {np.round(p, 4).tolist()} outside box {self.lo.tolist()}..{self.hi.tolist()}",
                )
            p = np.clip(p, self.lo, self.hi)
            clipped = True
        limited = False
        if measured_wrench is not None:  # before the step check: it only ever takes depth away
            p, _, limited = self.limit_contact(p, np.zeros(3), measured_position, measured_wrench)
        live = self.last is not None and now_s - self.last_accept_s <= c.watchdog_timeout_s
        ref_p = self.last.position if live else np.asarray(measured_position, float)
        ref_q = self.last.quaternion if live else np.asarray(measured_quaternion, float)
        step = float(np.linalg.norm(p - ref_p))
        if step > c.max_step_m:
            return Decision.reject("step_too_large", f"step {step * 1000:.1f} mm > {c.max_step_m * 1000:.1f} mm")
        rot = quaternion_angle(q, ref_q)
        if rot > c.max_rotation_step_rad:
            return Decision.reject(
                "rotation_step_too_large", f"rotation step {rot:.3f} rad > {c.max_rotation_step_rad} rad"
            )
        velocity = np.zeros(3)
        if live:
            assert self.last is not None
            dt = target.stamp_s - self.last.stamp_s
            if dt > 1e-4:
                velocity = (p - self.last.position) / dt
                speed = float(np.linalg.norm(velocity))
                if speed > c.max_speed_mps:
                    # Too fast for the stamps: pull the target back along the segment to the speed limit.
                    p = self.last.position + (p - self.last.position) * (c.max_speed_mps / speed)
                    velocity = velocity * (c.max_speed_mps / speed)
                    clipped = True
            velocity = self.brakeable_velocity(p, velocity)
        if measured_wrench is not None:  # above the limit, no feed-forward velocity into the contact either
            _, velocity, _ = self.limit_contact(p, velocity, measured_position, measured_wrench)
        cmd = replace(target, position=p, quaternion=q)
        self.last = cmd
        self.last_accept_s = now_s
        return Decision(True, pose=cmd, velocity=velocity, clipped=clipped or limited, contact_limited=limited)

    def limit_contact(
        self, p: np.ndarray, v: np.ndarray, measured_position: np.ndarray, wrench: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, bool]:
        """The contact force limit: (position, velocity, limited), `limited` when the position was pulled back.

        Engaged (force above `CONTACT_ENGAGE_FRACTION` of the limit), the velocity loses its component into the
        contact and the target may lie at most `backoff * (limit - force)` beyond the measured TCP along the force
        (behind it above the limit); below that, or when off, nothing changes.
        """
        limit = self.config.contact_force_limit_n
        f = np.asarray(wrench, float)[:3]
        mag = float(np.linalg.norm(f))
        if limit <= 0 or not math.isfinite(mag) or mag <= CONTACT_ENGAGE_FRACTION * limit:
            return p, v, False
        n = f / mag  # the direction the arm presses in
        vn = float(np.dot(v, n))
        if vn > 0:
            v = v - vn * n
        allowed = self.config.contact_backoff_m_per_n * (limit - mag)  # how far along n the target may be
        depth = float(np.dot(p - np.asarray(measured_position, float), n))
        if depth <= allowed:
            return p, v, False
        return p - (depth - allowed) * n, v, True

    def brakeable_velocity(self, p: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Scale a feed-forward velocity so that braking at max_accel stops inside the workspace box."""
        out = np.array(v, float)
        a = self.config.max_accel_mps2
        for i in range(3):
            room = (self.hi[i] - p[i]) if out[i] > 0 else (p[i] - self.lo[i])
            vmax = math.sqrt(2.0 * a * max(room, 0.0))
            if abs(out[i]) > vmax:
                out[i] = math.copysign(vmax, out[i])
        return out

    # ------------------------------------------------------------------ joint targets
    def check_joints(
        self, target: JointTarget, now_s: float, measured_q: np.ndarray, ee_position: np.ndarray | None = None
    ) -> Decision:
        """Validate a joint target; `ee_position` is its forward kinematics, checked against the box."""
        c = self.config
        q = target.positions
        if q.shape != (7,):
            return Decision.reject("bad_shape", f"{q.shape[0] if q.ndim == 1 else q.shape} joint values, want 7")
        if not (np.all(np.isfinite(q)) and math.isfinite(target.stamp_s)):
            return Decision.reject("nan_inf", f"non-finite joint target {q.tolist()}")
        if (d := self._check_stamp(target.stamp_s, now_s)) is not None:
            return d
        lo, hi = FR3_Q_MIN + c.joint_limit_margin_rad, FR3_Q_MAX - c.joint_limit_margin_rad
        bad = np.flatnonzero((q < lo) | (q > hi))
        if bad.size:
            return Decision.reject("joint_limit", f"joints {(bad + 1).tolist()} outside the FR3 limits")
        step = float(np.max(np.abs(q - np.asarray(measured_q, float))))
        if step > c.max_joint_step_rad:
            return Decision.reject("step_too_large", f"joint step {step:.3f} rad > {c.max_joint_step_rad} rad")
        if ee_position is not None and not self.in_workspace(np.asarray(ee_position, float)):
            return Decision.reject(
                "out_of_workspace", f"joint target puts the TCP at {np.round(ee_position, 4).tolist()}, outside the box"
            )
        self.forget()
        return Decision(True, joints=target)

    # ------------------------------------------------------------------ measured wrench
    def force_violation(self, wrench: np.ndarray) -> str:
        """'' if the external wrench is acceptable, else why the arm must stop."""
        w = np.asarray(wrench, float)
        if w.shape != (6,) or not np.all(np.isfinite(w)):
            return f"invalid external wrench estimate {w.tolist()}"
        f = float(np.linalg.norm(w[:3]))
        if f > self.config.max_force_n:
            return f"external force {f:.1f} N > {self.config.max_force_n:.1f} N"
        return ""
