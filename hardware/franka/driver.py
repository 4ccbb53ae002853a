"""The Franka arm driver on franky, behind the safety envelope (ROS-free).

One object owns the franky `Robot` (and `Gripper` when the robot serves one). Every command goes
through `SafetyEnvelope` first and the `send_*` calls return what was actually sent. `poll()` is
the supervisor tick (call it at the state rate): it reads the state once, surfaces errors of the
asynchronous motion thread (reflexes), stops on excessive external force and holds when the
command watchdog expires. Modes: idle, following, holding, stopped (safe stop, latched until
`reset`), error (franky/libfranka error, latched until `reset` recovers).

Cartesian targets become franky asynchronous `CartesianMotion`s that preempt the running one
(Ruckig re-plans from the current state, so motion stays smooth across targets); each carries a
feed-forward velocity from the target stream (no stop-and-go) and a franky `Reaction` that stops
the motion in the 1 kHz loop when the external force exceeds the limit.
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import franky
import numpy as np

from hardware.franka.rejections import RejectionLog
from hardware.franka.safety_envelope import EnvelopeConfig, SafetyEnvelope
from hardware.franka.state import ArmState, GripperCommand, JointTarget, PoseTarget
from hardware.franka.watchdog import CommandWatchdog
from hardware.realtime import realtime_available, realtime_spawn

FRANKA_HAND_MAX_FORCE_N = 70.0
# Errors of the robot or its link (reflexes, aborted commands, lost connection): they latch the error mode.
FRANKY_FAULTS = (franky.ControlException, franky.CommandException, franky.NetworkException)
FRANKA_HAND_MAX_SPEED_MPS = 0.1
FF_SPEED_MARGIN = 0.9  # feed-forward velocities stay this far inside franky's effective limit
# The contact force limit re-plans a running target that presses too deep at most this often (robot time) and only
# for a pull-back of at least this much: it acts between targets, without franky-sim's runaway at 1 kHz preemption.
CONTACT_REACTION_PERIOD_S = 0.03
CONTACT_REACTION_MIN_M = 0.001


class Mode(str, enum.Enum):
    IDLE = "idle"
    FOLLOWING = "following"
    HOLDING = "holding"
    STOPPED = "stopped"
    ERROR = "error"


@dataclass(frozen=True)
class DriverConfig:
    """Connection and motion settings; the limits live in `envelope`."""

    robot_ip: str
    envelope: EnvelopeConfig
    connect_timeout_s: float = 10.0
    dynamics_factor: float = 0.15
    collision_force_n: float = 60.0
    collision_torque_nm: float = 40.0
    use_gripper: bool = True
    # Re-plan the running motion at most this often, in robot time (0: on every target). Targets arriving sooner are
    # kept, and the newest is sent when the period is up (from `poll`). franky seeds each preempting
    # trajectory with the robot's reported commanded velocity/acceleration; franky-sim reports those
    # through a 0.95 low-pass, so preempting it much faster than ~10 Hz makes the simulated arm
    # oscillate and run away (bench/bench_franka.py --replan). The real robot reports them exactly.
    min_replan_period_s: float = 0.0
    # SCHED_FIFO priority for libfranka's control thread (0: leave it as libfranka starts it, time-shared without an
    # RT kernel). A time-shared control thread on a loaded machine misses whole 50-100 ms stretches of robot
    # steps, and franky's constant-acceleration extrapolation of them makes the next command jump.
    control_thread_priority: int = 80


@dataclass(frozen=True)
class SendResult:
    """What happened to one command: what was sent (after clipping), or why it was rejected.

    `log` is True for the first rejection of a burst (log it), False for the rest.
    """

    accepted: bool
    reason: str = ""
    detail: str = ""
    pose: PoseTarget | None = None
    joints: JointTarget | None = None
    gripper: GripperCommand | None = None
    clipped: bool = False
    log: bool = False


class ConnectError(RuntimeError):
    """The robot could not be reached or refused the connection."""


def _call_with_timeout(fn: Callable[[], Any], timeout_s: float, what: str) -> Any:
    """Run a blocking franky constructor in a helper thread; raise ConnectError on timeout or failure."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except Exception as exc:
            box["error"] = exc

    t = threading.Thread(target=run, daemon=True, name=f"connect-{what}")
    t.start()
    t.join(timeout_s)
    if t.is_alive():
        raise ConnectError(f"{what}: no answer within {timeout_s:.1f}s (robot on, FCI enabled, right IP?)")
    if "error" in box:
        e = box["error"]
        raise ConnectError(f"{what}: {type(e).__name__}: {e}") from e
    return box["value"]


class FrankaDriver:
    """franky wrapper with the safety envelope, watchdog, safe stop and error recovery."""

    def __init__(self, config: DriverConfig, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock
        self.envelope = SafetyEnvelope(config.envelope)
        self.watchdog = CommandWatchdog(config.envelope.watchdog_timeout_s)
        self.rejections = RejectionLog()
        self.accepted = 0
        self.clipped = 0
        self.contact_limited = 0  # targets pulled back by the contact force limit
        self._lock = threading.RLock()
        self._mode = Mode.IDLE
        self._reason = "connected"
        self._since = clock()
        self.status_seq = 0
        self._force_reaction_fired = threading.Event()
        self._last_state: ArmState | None = None
        self._sent: tuple[PoseTarget, np.ndarray] | None = None  # the running target and its feed-forward velocity
        self._pending: tuple[PoseTarget, np.ndarray] | None = None
        self._last_replan = -np.inf
        self._max_ff_speed = float("inf")
        self.robot: Any = None
        self.gripper: Any = None
        self.gripper_status = "not connected"
        self.control_thread = "not connected"
        self._gripper_width = float("nan")
        self._gripper_grasped = False
        self._gripper_stop = threading.Event()
        self._gripper_thread: threading.Thread | None = None

    # ------------------------------------------------------------------ connection
    def connect(self) -> FrankaDriver:
        """Connect to the robot (and gripper) within the timeout; raises ConnectError saying why not."""
        c = self.config
        ip = c.robot_ip
        robot = _call_with_timeout(
            lambda: franky.Robot(ip, realtime_config=franky.RealtimeConfig.Ignore),
            c.connect_timeout_s,
            f"Franka robot at {ip}",
        )
        if not 0.0 < c.dynamics_factor <= 1.0:
            raise ValueError(f"dynamics_factor must be in (0, 1], got {c.dynamics_factor}")
        robot.relative_dynamics_factor = c.dynamics_factor
        # franky's own limits, so the arm itself never exceeds the envelope's speed/acceleration.
        env = c.envelope
        vel, acc = robot.translation_velocity_limit, robot.translation_acceleration_limit
        vel.set(min(vel.max, env.max_speed_mps / c.dynamics_factor))
        acc.set(min(acc.max, env.max_accel_mps2 / c.dynamics_factor))
        effective_acc = min(acc.max * c.dynamics_factor, env.max_accel_mps2)
        self.envelope.config = replace(env, max_accel_mps2=effective_acc)
        # The feed-forward velocity of a target must lie within the limits franky plans with (limit x dynamics
        # factor); its trajectory generator refuses one beyond them ("error code -100", invalid input), and
        # the arm would hold. The envelope's speed is the stamps' speed, which jitter can push past it.
        self._max_ff_speed = FF_SPEED_MARGIN * min(vel.max * c.dynamics_factor, env.max_speed_mps)
        robot.set_collision_behavior(c.collision_torque_nm, c.collision_force_n)
        self.robot = robot
        self.control_thread = (
            f"SCHED_FIFO {c.control_thread_priority}"
            if realtime_available(c.control_thread_priority)
            else ("time-shared (not permitted to raise it)" if c.control_thread_priority > 0 else "time-shared")
        )
        self._norm_force = (franky.Measure.FORCE_X**2 + franky.Measure.FORCE_Y**2 + franky.Measure.FORCE_Z**2) ** 0.5
        if c.use_gripper:
            try:
                self.gripper = _call_with_timeout(lambda: franky.Gripper(ip), c.connect_timeout_s, f"gripper at {ip}")
                self.gripper_status = "ok"
                self._read_gripper()
                self._gripper_thread = threading.Thread(target=self._gripper_loop, daemon=True, name="gripper-state")
                self._gripper_thread.start()
            except ConnectError as exc:
                self.gripper, self.gripper_status = None, f"unavailable: {exc}"
        else:
            self.gripper_status = "disabled"
        self._set_mode(Mode.IDLE, f"connected to {ip}")
        return self

    def close(self) -> None:
        self._gripper_stop.set()
        with self._lock:
            if self.robot is not None:
                try:
                    if self.robot.current_control_signal_type is not None:
                        self._stop_motion()
                        self.robot.join_motion(2.0)
                except Exception:
                    pass

    # ------------------------------------------------------------------ mode / status
    @property
    def mode(self) -> Mode:
        return self._mode

    def _set_mode(self, mode: Mode, reason: str) -> None:
        if mode != self._mode or reason != self._reason:
            self._mode, self._reason, self._since = mode, reason, self.clock()
            self.status_seq += 1

    def status(self) -> dict[str, Any]:
        """Mode and reason (for /franka/status), plus gripper status and counters."""
        return {
            "mode": self._mode.value,
            "reason": self._reason,
            "since": round(self._since, 3),
            "gripper": self.gripper_status,
            "control_thread": self.control_thread,
            "accepted": self.accepted,
            "clipped": self.clipped,
            "contact_limited": self.contact_limited,
            "rejected": dict(self.rejections.counts),
        }

    # ------------------------------------------------------------------ state / supervision
    def read_state(self) -> ArmState:
        """One state snapshot (a single franky state read), stamped with the driver clock."""
        st = self.robot.state
        now = self.clock()
        ee = st.O_T_EE
        dq = np.asarray(st.dq, float)
        jac = np.asarray(self.robot.model.zero_jacobian(franky.Frame.EndEffector, st))
        return ArmState(
            stamp_s=now,
            robot_time_s=st.time.to_sec(),
            q=np.asarray(st.q, float),
            dq=dq,
            tau_j=np.asarray(st.tau_J, float),
            position=np.asarray(ee.translation, float),
            quaternion=np.asarray(ee.quaternion, float),
            linear_velocity=jac[:3] @ dq,
            wrench=np.asarray(st.O_F_ext_hat_K, float),
            robot_mode=st.robot_mode.name,
            gripper_width_m=self._gripper_width,
            gripper_grasped=self._gripper_grasped,
        )

    def poll(self) -> ArmState:
        """Supervisor tick: read state, surface motion errors, force stop, watchdog hold. Never raises franky errors."""
        with self._lock:
            try:
                self.robot.poll_motion()
            except FRANKY_FAULTS as exc:  # a robot error or reflex: latched until reset
                self._enter_error(exc)
            except Exception as exc:  # the trajectory planner refused the running target: hold, stay in service
                self._reject("planner_error", f"{type(exc).__name__}: {exc}")
                self._hold(f"motion planner: {' '.join(str(exc).split())}")
            state = self.read_state()
            now = state.stamp_s
            if state.robot_mode in ("Reflex", "UserStopped") and self._mode != Mode.ERROR:
                self._enter_error(self._mode_error(state.robot_mode))
            why = self.envelope.force_violation(state.wrench)
            if why and self._mode not in (Mode.STOPPED, Mode.ERROR):
                self._safe_stop(why)
            elif self._force_reaction_fired.is_set() and self._mode not in (Mode.STOPPED, Mode.ERROR):
                self._safe_stop(f"franky force reaction fired (> {self.config.envelope.max_force_n:.1f} N)")
            if self._mode == Mode.FOLLOWING and self.watchdog.expired(now):
                ms = self.config.envelope.watchdog_timeout_s * 1000
                self._hold(f"watchdog: no fresh target for {ms:.0f} ms")
            pending = self._pending
            if self._mode == Mode.FOLLOWING and (eased := self._ease_contact(state)) is not None:
                self._issue(*eased, state.robot_time_s)  # a safety reaction: not held back by the re-plan period
            elif pending is not None and self._mode == Mode.FOLLOWING:
                if state.robot_time_s - self._last_replan >= self.config.min_replan_period_s:
                    self._issue(*pending, state.robot_time_s)
            else:
                self._pending = None
            self._last_state = state
            return state

    def _ease_contact(self, state: ArmState) -> tuple[PoseTarget, np.ndarray] | None:
        """The running (or waiting) target pulled back by the contact force limit, if it presses too deep now."""
        if self.config.envelope.contact_force_limit_n <= 0 or self._sent is None:
            return None
        if state.robot_time_s - self._last_replan < CONTACT_REACTION_PERIOD_S:
            return None
        pose, velocity = self._pending or self._sent
        p, v, limited = self.envelope.limit_contact(pose.position, velocity, state.position, state.wrench)
        if not limited or float(np.linalg.norm(p - pose.position)) < CONTACT_REACTION_MIN_M:
            return None
        self.contact_limited += 1
        eased = replace(pose, position=p)
        if self.envelope.last is not None:
            self.envelope.last = replace(self.envelope.last, position=p)
        return eased, v

    def _measured(self) -> ArmState:
        s = self._last_state
        if s is None or self.clock() - s.stamp_s > 0.05:
            s = self.read_state()
            self._last_state = s
        return s

    # ------------------------------------------------------------------ commands
    def reject(self, reason: str, detail: str) -> SendResult:
        """Count a command rejected before it reached the driver (e.g. a malformed message)."""
        return self._reject(reason, detail)

    def _reject(self, reason: str, detail: str) -> SendResult:
        log = self.rejections.record(reason, detail, self.clock())
        return SendResult(False, reason, detail, log=log)

    def _gate(self) -> SendResult | None:
        if self._mode == Mode.STOPPED:
            return self._reject("safe_stopped", f"safe stop active ({self._reason}); call reset")
        if self._mode == Mode.ERROR:
            return self._reject("error_state", f"robot error ({self._reason}); call reset")
        return None

    def send_pose(self, target: PoseTarget) -> SendResult:
        """Check a Cartesian target and, if allowed, preempt the running motion with it."""
        with self._lock:
            if (g := self._gate()) is not None:
                return g
            now = self.clock()
            meas = self._measured()
            d = self.envelope.check_pose(target, now, meas.position, meas.quaternion, meas.wrench)
            if not d.accepted:
                return self._reject(d.reason, d.detail)
            assert d.pose is not None
            if self.robot.current_control_signal_type == franky.ControlSignalType.JointPositions:
                self.envelope.forget()
                return self._reject("mode_switch", "a joint motion is running; wait until it ends")
            self.watchdog.feed(now)
            if self._same_as_sent(d.pose, d.velocity):
                # The stream repeats the running target: keep the motion, no needless re-planning.
                self.accepted += 1
                return SendResult(True, pose=d.pose, clipped=d.clipped)
            robot_now = meas.robot_time_s
            if robot_now - self._last_replan < self.config.min_replan_period_s and self._mode == Mode.FOLLOWING:
                self._pending = (d.pose, d.velocity)  # sent by poll() when the re-plan period is up
            elif (failed := self._issue(d.pose, d.velocity, robot_now)) is not None:
                return failed
            self.accepted += 1
            self.clipped += int(d.clipped)
            self.contact_limited += int(d.contact_limited)
            return SendResult(True, pose=d.pose, clipped=d.clipped)

    def _issue(self, pose: PoseTarget, velocity: np.ndarray, robot_now: float) -> SendResult | None:
        """Preempt the running motion with this (already checked) target; a SendResult only on failure."""
        self._pending = None
        self._last_replan = robot_now
        speed = float(np.linalg.norm(velocity))
        if speed > self._max_ff_speed:
            velocity = velocity * (self._max_ff_speed / speed)
        cart = franky.CartesianState(
            pose=franky.RobotPose(franky.Affine(pose.position, pose.quaternion)),
            velocity=franky.RobotVelocity(franky.Twist(velocity, np.zeros(3))),
        )
        motion = franky.CartesianMotion(cart, franky.ReferenceType.Absolute, return_when_finished=False)
        motion.add_reaction(self._force_reaction())
        try:
            self._move(motion)
        except FRANKY_FAULTS as exc:  # a stored reflex surfaces here
            self._enter_error(exc)
            return self._reject("franky_error", str(exc))
        except Exception as exc:  # e.g. the trajectory planner refused this target: keep the running motion
            self.envelope.forget()
            return self._reject("planner_error", f"{type(exc).__name__}: {exc}")
        self._sent = (pose, velocity.copy())
        if self._mode != Mode.FOLLOWING:
            self._set_mode(Mode.FOLLOWING, "following Cartesian targets")
        return None

    def _same_as_sent(self, pose: PoseTarget, velocity: np.ndarray) -> bool:
        if self._sent is None or self.robot.current_control_signal_type != franky.ControlSignalType.CartesianPose:
            return False
        sent, v = self._sent
        p, q = sent.position, sent.quaternion
        return bool(
            np.allclose(p, pose.position, atol=1e-6)
            and np.allclose(q, pose.quaternion, atol=1e-6)
            and np.allclose(v, velocity, atol=1e-6)
        )

    def send_joints(self, target: JointTarget) -> SendResult:
        """Check a joint target (limits, step, TCP inside the box) and move there."""
        with self._lock:
            if (g := self._gate()) is not None:
                return g
            now = self.clock()
            st = self.robot.state
            ee = None
            if target.positions.shape == (7,) and np.all(np.isfinite(target.positions)):
                ee = self.robot.model.pose(franky.Frame.EndEffector, target.positions, st.F_T_EE, st.EE_T_K).translation
            d = self.envelope.check_joints(target, now, np.asarray(st.q, float), ee)
            if not d.accepted:
                return self._reject(d.reason, d.detail)
            if self.robot.current_control_signal_type == franky.ControlSignalType.CartesianPose:
                return self._reject("mode_switch", "a Cartesian motion is running; wait until it holds")
            try:
                self._move(franky.JointMotion(target.positions))
            except Exception as exc:
                self._enter_error(exc)
                return self._reject("franky_error", str(exc))
            self.watchdog.disarm()
            self.accepted += 1
            self._set_mode(Mode.FOLLOWING, "moving to a joint target")
            return SendResult(True, joints=d.joints)

    def send_gripper(self, cmd: GripperCommand) -> SendResult:
        """Move or grasp (force > 0) with the gripper, asynchronously."""
        with self._lock:
            if (g := self._gate()) is not None:
                return g
            if self.gripper is None:
                return self._reject("gripper_unavailable", self.gripper_status)
            vals = np.array([cmd.width_m, cmd.speed_mps, cmd.force_n], float)
            if not np.all(np.isfinite(vals)):
                return self._reject("nan_inf", f"non-finite gripper command {vals.tolist()}")
            max_w = float(self.gripper.max_width)
            if not 0.0 <= cmd.width_m <= max_w:
                return self._reject("gripper_range", f"width {cmd.width_m} m outside [0, {max_w}]")
            if not 0.0 < cmd.speed_mps <= FRANKA_HAND_MAX_SPEED_MPS:
                return self._reject(
                    "gripper_range", f"speed {cmd.speed_mps} m/s outside (0, {FRANKA_HAND_MAX_SPEED_MPS}]"
                )
            if not 0.0 <= cmd.force_n <= FRANKA_HAND_MAX_FORCE_N:
                return self._reject("gripper_range", f"force {cmd.force_n} N outside [0, {FRANKA_HAND_MAX_FORCE_N}]")
            try:
                if cmd.force_n > 0:
                    self.gripper.grasp_async(cmd.width_m, cmd.speed_mps, cmd.force_n, 0.005, max_w)
                else:
                    self.gripper.move_async(cmd.width_m, cmd.speed_mps)
            except Exception as exc:
                self.gripper_status = f"error: {exc}"
                return self._reject("gripper_error", str(exc))
            self.accepted += 1
            return SendResult(True, gripper=cmd)

    def _read_gripper(self) -> None:
        try:
            gs = self.gripper.state
            self._gripper_width, self._gripper_grasped = float(gs.width), bool(gs.is_grasped)
        except Exception as exc:
            self.gripper_status = f"error: {exc}"

    def _gripper_loop(self) -> None:
        """Gripper state reads block until the next packet, so they run here, not in `poll`."""
        while not self._gripper_stop.wait(0.05):
            self._read_gripper()

    def _move(self, motion: Any) -> None:
        """Start or preempt an asynchronous motion; a control thread it starts runs real-time when permitted."""
        with realtime_spawn(self.config.control_thread_priority):
            self.robot.move(motion, asynchronous=True)

    # ------------------------------------------------------------------ stop / hold / reset
    def _force_reaction(self) -> Any:
        r = franky.Reaction(self._norm_force > self.config.envelope.max_force_n, franky.CartesianStopMotion())
        r.register_callback(lambda *_: self._force_reaction_fired.set())
        return r

    def _stop_motion(self, urgent: bool = False) -> None:
        """Decelerate the running motion to rest; `urgent` (safe stop) at the robot's full dynamics rather
        than the configured fraction of them, so the arm stops in the shortest time the robot allows."""
        sig = self.robot.current_control_signal_type
        if urgent and sig is not None:
            self.robot.relative_dynamics_factor = 1.0  # restored by reset
        if sig == franky.ControlSignalType.CartesianPose:
            self._move(franky.CartesianStopMotion())
        elif sig == franky.ControlSignalType.JointPositions:
            self._move(franky.JointStopMotion())
        elif sig is not None:
            self.robot.stop()

    def _hold(self, reason: str) -> None:
        self._sent = self._pending = None
        self.watchdog.disarm()
        self.envelope.forget()
        try:
            self._stop_motion()
        except Exception as exc:
            self._enter_error(exc)
            return
        self._set_mode(Mode.HOLDING, reason)

    def _safe_stop(self, reason: str) -> None:
        self._sent = self._pending = None
        self.watchdog.disarm()
        self.envelope.forget()
        self._set_mode(Mode.STOPPED, reason)
        try:
            self._stop_motion(urgent=True)
        except Exception as exc:
            self._enter_error(exc)

    def safe_stop(self, reason: str = "safe stop requested") -> tuple[bool, str]:
        """Decelerate, hold, and reject every target until `reset`."""
        with self._lock:
            if self._mode == Mode.ERROR:
                return True, f"already stopped by an error: {self._reason}"
            self._safe_stop(reason)
            return True, f"stopped: {reason}"

    def _mode_error(self, robot_mode: str) -> str:
        """The error reason for a robot that reports Reflex or UserStopped before any motion error arrived."""
        if robot_mode == "UserStopped":
            return "user stop engaged (robot in UserStopped mode)"
        try:
            errors = str(self.robot.state.current_errors)
        except Exception:  # the reason must not fail on a state read
            errors = "?"
        return f"reflex: robot in Reflex mode, errors {errors}"

    def _enter_error(self, exc: BaseException | str) -> None:
        msg = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
        msg = " ".join(str(msg).split())
        self._sent = None
        self.watchdog.disarm()
        self.envelope.forget()
        self._set_mode(Mode.ERROR, msg)

    def _errors_cleared(self, timeout_s: float) -> bool:
        """Wait for a state that shows no errors: the state read right after recovery can predate it."""
        deadline = time.monotonic() + timeout_s
        while True:
            if not self.robot.has_errors and self.robot.state.robot_mode.name != "Reflex":
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)

    def reset(self) -> tuple[bool, str]:
        """Clear a safe stop, or recover from a robot error when that is safe; otherwise say why not."""
        with self._lock:
            try:
                self.robot.poll_motion()
            except Exception as exc:
                self._enter_error(exc)
            st = self.robot.state
            has_errors = bool(self.robot.has_errors) or st.robot_mode.name == "Reflex"
            if self._mode not in (Mode.STOPPED, Mode.ERROR) and not has_errors:
                return True, f"nothing to reset (mode {self._mode.value})"
            if st.robot_mode.name == "UserStopped":
                return False, "the user stop is engaged: release it, then reset"
            why = self.envelope.force_violation(np.asarray(st.O_F_ext_hat_K, float))
            if why:
                return False, f"not safe to resume: {why}; free the arm first"
            previous = self._reason
            if has_errors or self._mode == Mode.ERROR:
                try:
                    # franky answers from the state it read just before the recovery, so its boolean can be
                    # stale; the robot state that follows is the truth.
                    self.robot.recover_from_errors()
                except Exception as exc:
                    return False, f"automatic error recovery failed: {type(exc).__name__}: {exc}"
                if not self._errors_cleared(timeout_s=1.0):
                    return False, "automatic error recovery did not clear the errors: manual recovery needed"
            self._force_reaction_fired.clear()
            self.envelope.forget()
            self.watchdog.disarm()
            self.robot.relative_dynamics_factor = self.config.dynamics_factor  # a safe stop raised it
            self._set_mode(Mode.IDLE, f"reset after: {previous}")
            return True, f"recovered from: {previous}"
