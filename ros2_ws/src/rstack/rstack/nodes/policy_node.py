"""policy node: the Reactive Diffusion Policy from an ONNX bundle, on the graph's topics.

Thin: converts messages into `PolicyRunner` pushes (with their capture stamps) and its outputs into
messages. The planner and the fast head run on the runner's own threads; this node's callbacks only
copy data in. Targets go to the arm node, whose safety envelope checks them again.
"""

from __future__ import annotations

import functools
import json
import sys
import time

import numpy as np
import rclpy
from std_msgs.msg import Float64MultiArray, String

from hardware.realtime import make_threads_realtime
from hardware.tactile.wire import decode_tactile_array
from hardware.wire.multiarray import encode_float32_multiarray
from hardware.wire.stamped import PoseStampedEncoder, decode_joint_state_position, decode_pose_stamped
from policy_runtime.engine.bundle import BundleError
from policy_runtime.engine.policy_engine import PolicyEngine
from policy_runtime.fiper.messages import encode_chunks, encode_embedding
from policy_runtime.runtime.planner_process import PlannerProcessError
from policy_runtime.runtime.policy_runner import PolicyRunner, RunnerConfig
from rstack import graph
from rstack.camera_feed import subscribe_cameras
from rstack.message_waiter import MessageWaiter
from rstack.msg_convert import image_to_rgb
from rstack.node_support import OK, WARN, GraphNode, run_node, stamp_to_s

# A thread waiting for the GIL asks the holder to drop it after this long (CPython's default is 5 ms, which
# would be the floor of the fast tick's wake-up delay whenever an executor callback is busy). 0.1 ms rather than
# 0.5 ms: the 24 Hz touch -> target p99 was 1.7 and 2.3 ms against 2.5 and 2.7 ms, alternated in one session.
GIL_SWITCH_INTERVAL_S = 0.0001


class PolicyNode(GraphNode):
    def __init__(self) -> None:
        super().__init__(graph.POLICY, "policy")
        sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
        p = self.params
        if not p["policy_dir"]:
            raise ValueError("parameter policy_dir: no policy bundle given (a directory with bundle.json)")
        try:
            engine = PolicyEngine(p["policy_dir"])
        except (BundleError, ValueError, OSError) as exc:
            raise ValueError(f"parameter policy_dir: {exc}") from None
        try:
            self.runner = self._runner(engine)
        except PlannerProcessError as exc:
            raise ValueError(f"parameter planner_process: {exc}") from None
        self.target_wire = PoseStampedEncoder(p["frame_id"])  # targets go out as bytes: no message object per tick
        self.last_width: float | None = None
        self._status: dict = {}
        self.target_pub = self.graph_publisher(graph.FRANKA_TARGET_POSE)
        self.gripper_pub = self.graph_publisher(graph.FRANKA_GRIPPER_COMMAND)
        self.emb_pub = self.graph_publisher(graph.POLICY_EMBEDDING)
        self.chunk_pub = self.graph_publisher(graph.POLICY_SAMPLED_CHUNKS)
        self.status_pub = self.graph_publisher(graph.POLICY_STATUS)
        if not self.runner.images_in_child:
            for cam in self.runner.cameras:
                self.graph_subscription(graph.CAMERA_IMAGE, lambda m, c=cam: self._on_image(c, m), name=cam)
        # The fast head's thread takes touch, TCP pose and gripper state off the wire itself, on a node of its own
        # with no executor (rstack.message_waiter): a touch message runs its tick right there, never queued behind
        # other callbacks, never handed to another thread, and no other Python thread of this process competes with
        # it for the GIL at the control rate (bench/bench_policy_ros.py).
        self.fast_node = rclpy.create_node(
            f"{self.get_name()}_fast", namespace=self.get_namespace(), context=self.context,
            start_parameter_services=False,
        )  # fmt: skip
        fast = self.fast_node
        # All three serialized: read without rosidl's message objects (hardware.wire): pose and gripper state come at
        # the arm's rate (100 Hz or more), and a touch that arrives while one is being handled waits for it.
        subs = [  # touch first: when several wait, touch is handled first
            self.graph_subscription(
                graph.TACTILE_EMBEDDING, self._on_touch, on=fast, raw=True, name=p["tactile_sensor"]
            ),
            self.graph_subscription(graph.FRANKA_EE_POSE, self._on_pose, on=fast, raw=True),
            self.graph_subscription(graph.FRANKA_GRIPPER_STATE, self._on_gripper, on=fast, raw=True),
        ]
        self.fast_waiter = MessageWaiter(fast, subs)
        self.runner.fast.serve_while_waiting(self._serve_fast, self.fast_waiter.wake)
        self.add_diagnostic(self._diagnostic)
        self.create_timer(1.0, self._publish_status)
        self.graph_service(graph.POLICY_START, self._srv_start)
        self.graph_service(graph.POLICY_STOP, self._srv_stop)
        if not p["autostart"]:
            self.runner.disengage()
        # Every thread real-time before the fast head starts (it inherits it; the planner drops it): the touch ->
        # target path then never waits behind the planner, the renderer or the rest of a loaded machine.
        self.scheduling = make_threads_realtime(p["fast_path_priority"])
        self.runner.start()
        self.get_logger().info(
            f"policy from {p['policy_dir']} on {engine.providers[0]}: cameras {self.runner.cameras}, "
            f"planner {p['planner_rate_hz']} Hz "
            f"{'in its own process, with the cameras' if p['planner_process'] else 'in-process'} "
            f"({'streaming' if p['streaming'] else 'full DDIM'}, "
            f"B={p['num_samples']}), control {p['control_rate_hz']} Hz, fast path {self.scheduling}"
        )

    def _runner(self, engine: PolicyEngine) -> PolicyRunner:
        p = self.params
        config = RunnerConfig(
            control_rate_hz=p["control_rate_hz"],
            planner_rate_hz=p["planner_rate_hz"],
            num_samples=p["num_samples"],
            streaming=p["streaming"],
            max_skew_s=p["max_skew_s"],
            max_age_s=p["max_age_s"],
            max_action_jump_m=p["max_action_jump_m"],
            plan_switch_blend_s=p["plan_switch_blend_s"],
            coherent_samples=p["coherent_samples"],
            tick_on_touch=p["tick_on_touch"],
            features_when_disengaged=p["features_when_disengaged"],
            planner_process=p["planner_process"],
            planner_nice=p["planner_nice"],
            prewarm_ms=p["prewarm_ms"],
        )
        feed = None
        if p["planner_process"]:  # the planner process takes the camera frames off the wire itself
            topics = {c: graph.CAMERA_IMAGE.resolve(name=c) for c in engine.cameras}
            feed = functools.partial(subscribe_cameras, topics, f"{self.get_name()}_cameras")
        return PolicyRunner(engine, config, self._now, self._publish_target, self._publish_features, feed)

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _srv_start(self, _req, resp):
        self.runner.engage()
        self.last_width = None
        resp.success, resp.message = True, f"engaged at planner step {self.runner.step}"
        self.get_logger().info(resp.message)
        return resp

    def _srv_stop(self, _req, resp):
        self.runner.disengage()
        resp.success, resp.message = True, f"disengaged after {self.runner.sent} targets"
        self.get_logger().info(resp.message)
        return resp

    # ------------------------------------------------------------------ inputs
    def _on_image(self, camera: str, msg) -> None:
        self.runner.push_image(camera, stamp_to_s(msg.header.stamp), image_to_rgb(msg))

    def _on_pose(self, raw: bytes) -> None:
        self.runner.push_tcp_pose(*decode_pose_stamped(raw))

    def _on_gripper(self, raw: bytes) -> None:
        stamp, width = decode_joint_state_position(raw)
        if width is not None:
            self.runner.push_gripper_width(stamp, width)

    def _on_touch(self, raw: bytes) -> None:
        stamp, values = decode_tactile_array(raw)  # ValueError on a malformed message: logged by _serve_fast
        if stamp is None:  # no capture stamp: cannot be aligned, so it is not used
            return
        self.runner.push_touch(stamp, values)

    def _serve_fast(self, timeout_s: float) -> None:
        """The fast head's wait: handle one touch, pose or gripper message (a touch runs its tick) or time out.

        Never raises into the loop."""
        try:
            self.fast_waiter.spin_once(timeout_s)
        except Exception as exc:  # a bad message must not end the fast head; the loop holds without fresh touch
            if rclpy.ok(context=self.context):
                self.get_logger().error(f"message refused: {type(exc).__name__}: {exc}", throttle_duration_sec=5.0)
            # Shutting down (the loop is about to be stopped) or a failing wait set: never spin the loop hot.
            time.sleep(min(max(timeout_s, 0.0), 0.01))

    # ------------------------------------------------------------------ outputs
    def _publish_target(self, target: np.ndarray, t: float) -> None:
        self.target_pub.publish(self.target_wire.encode(t, target[:7]))
        width = float(target[7])
        if self.last_width is None or abs(width - self.last_width) > self.params["gripper_deadband_m"]:
            self.gripper_pub.publish(Float64MultiArray(data=[width, 0.05, 0.0]))
            self.last_width = width

    def _publish_features(self, step: int, embedding: np.ndarray, chunks: np.ndarray) -> None:
        # As serialized bytes: no message objects on the planner thread, which shares the GIL with the fast head.
        self.emb_pub.publish(encode_float32_multiarray(*encode_embedding(step, embedding)))
        self.chunk_pub.publish(encode_float32_multiarray(*encode_chunks(step, chunks)))

    def _publish_status(self) -> None:
        self._status = self.runner.status()
        self.status_pub.publish(String(data=json.dumps(self._status)))

    def _diagnostic(self):
        # The figures of the last status report (at most a second old), not computed again: each report holds the GIL
        # the fast head's thread needs for a millisecond or so.
        st = dict(self._status) if self._status else self.runner.status()
        st["engaged"] = self.runner.engaged
        st["fast_path_scheduling"] = self.scheduling
        reason = str(st["hold_reason"])
        return self.status(WARN if reason else OK, f"holding: {reason}" if reason else "running", st)

    def close(self) -> None:
        self.runner.stop()
        self.fast_node.destroy_node()


def main() -> None:
    # One executor thread: every callback here only copies data in, and rclpy's multi-threaded executor costs
    # the touch callback (and so the fast tick it triggers) several ms of dispatch (bench_policy_ros.py).
    raise SystemExit(run_node(PolicyNode, threads=1))
