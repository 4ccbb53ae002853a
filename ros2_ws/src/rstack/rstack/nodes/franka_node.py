"""franka node: the franky arm driver behind the safety envelope, on the graph's topics.

Thin: converts messages, holds parameters, and calls `hardware.franka.driver.FrankaDriver`, whose
`poll()` (state read, reflex/force/watchdog supervision) runs on a paced state thread. All state is
stamped with the node clock, which is also the clock the envelope ages targets with.
"""

from __future__ import annotations

import json
import threading
import time

import numpy as np
from geometry_msgs.msg import PoseStamped, WrenchStamped
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray, String

from hardware.franka.driver import ConnectError, DriverConfig, FrankaDriver, Mode, SendResult
from hardware.franka.safety_envelope import EnvelopeConfig
from hardware.franka.state import ArmState, GripperCommand, JointTarget, PoseTarget
from hardware.timing import CycleTimer, StreamStats
from rstack import graph
from rstack.msg_convert import array_to_pose, pose_to_array
from rstack.node_support import ERROR, OK, WARN, GraphNode, run_node, s_to_stamp, stamp_to_s

JOINT_NAMES = [f"fr3_joint{i}" for i in range(1, 8)]


class FrankaNode(GraphNode):
    """Publishes arm state, follows targets through the envelope, serves safe_stop and reset."""

    def __init__(self) -> None:
        super().__init__(graph.FRANKA, "franka")
        p = self.params
        self.frame_id = str(p["frame_id"])
        cfg = DriverConfig(
            robot_ip=str(p["robot_ip"]),
            envelope=EnvelopeConfig.from_params(p),
            connect_timeout_s=float(p["connect_timeout_s"]),
            dynamics_factor=float(p["dynamics_factor"]),
            collision_force_n=float(p["collision_force_n"]),
            collision_torque_nm=float(p["collision_torque_nm"]),
            use_gripper=bool(p["use_gripper"]),
            min_replan_period_s=float(p["min_replan_period_s"]),
            control_thread_priority=int(p["control_thread_priority"]),
        )
        self.driver = self._connect(cfg, float(p["connect_retry_s"]))
        self.get_logger().info(
            f"connected to {cfg.robot_ip} (gripper: {self.driver.gripper_status}); "
            f"workspace {list(cfg.envelope.workspace_min)}..{list(cfg.envelope.workspace_max)} "
            f"({cfg.envelope.workspace_mode}), watchdog {cfg.envelope.watchdog_timeout_s}s, "
            f"control thread {self.driver.control_thread}"
        )
        self.pub_joints = self.graph_publisher(graph.FRANKA_JOINT_STATES)
        self.pub_pose = self.graph_publisher(graph.FRANKA_EE_POSE)
        self.pub_wrench = self.graph_publisher(graph.FRANKA_WRENCH)
        self.pub_gripper = self.graph_publisher(graph.FRANKA_GRIPPER_STATE)
        self.pub_status = self.graph_publisher(graph.FRANKA_STATUS)
        self.graph_subscription(graph.FRANKA_TARGET_POSE, self._on_pose, stale_after_s=1.0)
        self.graph_subscription(graph.FRANKA_TARGET_JOINTS, self._on_joints, stale_after_s=1.0)
        self.graph_subscription(graph.FRANKA_GRIPPER_COMMAND, self._on_gripper, stale_after_s=5.0)
        self.graph_service(graph.FRANKA_SAFE_STOP, self._on_safe_stop)
        self.graph_service(graph.FRANKA_RESET, self._on_reset)
        self.state_stats = StreamStats("state", stale_after_s=0.1)
        self._status_seq = -1
        self._status_limited = 0
        self._status_stamp = 0.0
        self._last_mode = self.driver.mode
        self._diag_rejections = 0
        self.add_diagnostic(self._diagnostic)
        self._publish_status()
        # The state loop runs on its own thread: an always-due ROS timer would starve targets and services.
        self._cycle = CycleTimer(rate_hz=float(p["state_rate_hz"]))
        self._last_state_stamp = -1.0
        self._running = True
        self._loop = threading.Thread(target=self._state_loop, daemon=True, name="franka-state")
        self._loop.start()

    def _connect(self, cfg: DriverConfig, retry_s: float) -> FrankaDriver:
        """Connect, retrying every `retry_s` while the robot (or franky-sim) is not up yet; 0: fail at once."""
        waiting = False
        while True:
            try:
                return FrankaDriver(cfg, clock=self._now).connect()
            except ConnectError as exc:
                if retry_s <= 0 or not self.context.ok():
                    raise
                if not waiting:
                    self.get_logger().warning(f"waiting for the robot: {exc} (retrying every {retry_s:g} s)")
                    waiting = True
                time.sleep(retry_s)

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    # ------------------------------------------------------------------ state
    def _state_loop(self) -> None:
        failing = False
        while self._running and self.context.ok():
            try:
                self._tick()
                failing = False
            except Exception as exc:  # never let the state loop die; say it once per episode of failures
                if not self.context.ok():
                    break  # shutting down
                if not failing:
                    self.get_logger().error(f"state loop: {type(exc).__name__}: {exc}")
                failing = True
            self._cycle.wait()

    def _tick(self) -> None:
        s = self.driver.poll()
        # On a sim clock that has not advanced since the last sample this is the same instant: one
        # message per stamp keeps the state streams strictly increasing.
        if s.stamp_s > self._last_state_stamp:
            self._last_state_stamp = s.stamp_s
            self._publish_state(s)
            self.state_stats.tick()
        if self.driver.status_seq != self._status_seq:
            self._publish_status()
        elif self.driver.contact_limited != self._status_limited and s.stamp_s - self._status_stamp > 0.2:
            self._publish_status()  # the contact limit's count, at most 5 times a second (no mode change)

    def _publish_state(self, s: ArmState) -> None:
        stamp = s_to_stamp(s.stamp_s)
        js = JointState(name=JOINT_NAMES, position=s.q.tolist(), velocity=s.dq.tolist(), effort=s.tau_j.tolist())
        js.header.stamp, js.header.frame_id = stamp, self.frame_id
        self.pub_joints.publish(js)
        self.pub_pose.publish(array_to_pose(np.concatenate([s.position, s.quaternion]), stamp, self.frame_id))
        w = WrenchStamped()
        w.header.stamp, w.header.frame_id = stamp, self.frame_id
        w.wrench.force.x, w.wrench.force.y, w.wrench.force.z = (float(v) for v in s.wrench[:3])
        w.wrench.torque.x, w.wrench.torque.y, w.wrench.torque.z = (float(v) for v in s.wrench[3:])
        self.pub_wrench.publish(w)
        g = JointState(name=["width", "grasped"], position=[s.gripper_width_m, float(s.gripper_grasped)])
        g.header.stamp, g.header.frame_id = stamp, self.frame_id
        self.pub_gripper.publish(g)

    def _publish_status(self) -> None:
        self._status_seq = self.driver.status_seq
        self._status_limited = self.driver.contact_limited
        self._status_stamp = self.driver.clock()
        st = self.driver.status()
        self.pub_status.publish(String(data=json.dumps(st)))
        mode = self.driver.mode
        if mode != self._last_mode:
            log = self.get_logger()
            msg = f"mode {self._last_mode.value} -> {mode.value}: {st['reason']}"
            # (rclpy ties one severity to each call site, hence three calls)
            if mode == Mode.ERROR:
                log.error(msg)
            elif mode == Mode.STOPPED:
                log.warning(msg)
            else:
                log.info(msg)
            self._last_mode = mode

    # ------------------------------------------------------------------ commands
    def _report(self, what: str, r: SendResult) -> None:
        if not r.accepted and r.log:
            self.get_logger().warning(f"rejected {what} ({r.reason}): {r.detail} [further ones this burst are counted]")
        if self.driver.status_seq != self._status_seq:
            self._publish_status()

    def _on_pose(self, msg: PoseStamped) -> None:
        pose = pose_to_array(msg)
        t = PoseTarget.of(pose[:3], pose[3:7], stamp_to_s(msg.header.stamp), msg.header.frame_id)
        self._report("target pose", self.driver.send_pose(t))

    def _on_joints(self, msg: JointState) -> None:
        if msg.name and list(msg.name) != JOINT_NAMES:
            r = self.driver.reject("bad_names", f"joint names {list(msg.name)}, expected {JOINT_NAMES}")
        else:
            r = self.driver.send_joints(JointTarget.of(list(msg.position), stamp_to_s(msg.header.stamp)))
        self._report("joint target", r)

    def _on_gripper(self, msg: Float64MultiArray) -> None:
        d = list(msg.data)
        if len(d) not in (2, 3):
            r = self.driver.reject("bad_shape", f"gripper command has {len(d)} values, want [width, speed(, force)]")
        else:
            r = self.driver.send_gripper(GripperCommand(d[0], d[1], d[2] if len(d) == 3 else 0.0))
        self._report("gripper command", r)

    def _on_safe_stop(self, request, response):
        response.success, response.message = self.driver.safe_stop("safe stop requested via service")
        self._publish_status()
        return response

    def _on_reset(self, request, response):
        response.success, response.message = self.driver.reset()
        if not response.success:
            self.get_logger().warning(f"reset refused: {response.message}")
        self._publish_status()
        return response

    # ------------------------------------------------------------------ diagnostics
    def _diagnostic(self):
        st = self.driver.status()
        mode = self.driver.mode
        level = ERROR if mode in (Mode.STOPPED, Mode.ERROR) else WARN if mode == Mode.HOLDING else OK
        values = {
            "mode": st["mode"],
            "reason": st["reason"],
            "gripper": st["gripper"],
            "accepted": st["accepted"],
            "clipped": st["clipped"],
            "contact_limited": st["contact_limited"],
            "state_rate_hz": f"{self.state_stats.rate_hz():.1f}",
            **self.driver.rejections.report(),
        }
        total = self.driver.rejections.total
        if level == OK and total > self._diag_rejections:
            level = WARN  # rejections since the last report
        self._diag_rejections = total
        return self.status(level, f"{st['mode']}: {st['reason']}", values, name="arm")

    def close(self) -> None:
        self._running = False
        self._loop.join(timeout=2.0)
        self.driver.close()


def main(args: list[str] | None = None) -> int:
    return run_node(FrankaNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
