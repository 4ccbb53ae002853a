"""A stand-in for the robot's drivers in recorder tests: publishes the recorded topics, counting each message.

Runs an rclpy node (own context, own executor thread) in the test process; the recorder under test
runs as a real process. Images carry their take marker and frame number in `header.frame_id` and a
pixel value derived from both, so a test can tell which take a recorded frame came from.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter

import numpy as np

from rstack import graph
from rstack.nodes.recorder_node import recorded_topics
from rstack.ros_types import message_class, topic_class, topic_qos

RATES_HZ = {
    graph.CAMERA_IMAGE.name: 30.0,
    graph.CAMERA_INFO.name: 30.0,
    graph.TACTILE_MARKER_FLOW.name: 30.0,
    graph.TACTILE_EMBEDDING.name: 30.0,
    graph.FRANKA_JOINT_STATES.name: 100.0,
    graph.FRANKA_EE_POSE.name: 100.0,
    graph.FRANKA_WRENCH.name: 100.0,
    graph.FRANKA_GRIPPER_STATE.name: 100.0,
    graph.FRANKA_TARGET_POSE.name: 50.0,
    graph.FRANKA_GRIPPER_COMMAND.name: 5.0,
}


def pixel_value(marker: int, frame: int) -> int:
    return (marker * 37 + frame) % 256


class StackPublisher:
    """Publishes every topic the recorder records in `profile`, at realistic rates."""

    def __init__(self, profile: str = "sim", width: int = 160, height: int = 120) -> None:
        import rclpy
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor

        self.ctx = Context()
        rclpy.init(context=self.ctx)
        self.node = rclpy.create_node("recorder_test_stack", context=self.ctx)
        self.width, self.height = width, height
        self.topics = recorded_topics(profile)
        self.pubs = {name: self.node.create_publisher(topic_class(t), name, topic_qos(t)) for name, t in self.topics}
        self.kind = {name: t for name, t in self.topics}
        self.clients = {
            s.name: self.node.create_client(message_class(s.srv_type), s.name) for s in graph.RECORDER.serves
        }
        self.statuses: list[dict] = []
        self.node.create_subscription(
            topic_class(graph.RECORDER_STATUS),
            graph.RECORDER_STATUS.name,
            lambda m: self.statuses.append(json.loads(m.data)),
            topic_qos(graph.RECORDER_STATUS),
        )
        self.executor = SingleThreadedExecutor(context=self.ctx)
        self.executor.add_node(self.node)
        self._spin = threading.Thread(target=self.executor.spin, daemon=True)
        self._spin.start()
        self.frames: Counter = Counter()

    # ------------------------------------------------------------------ graph
    def wait_matched(self, timeout: float = 20.0) -> None:
        """Until the recorder subscribes to every topic (so nothing published later is missed)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            missing = [n for n, p in self.pubs.items() if p.get_subscription_count() < 1]
            if not missing:
                return
            time.sleep(0.1)
        raise AssertionError(f"recorder did not subscribe within {timeout}s to: {missing}")

    def wait_recorder(self, output_dir: str, timeout: float = 30.0) -> None:
        """Until the recorder writing to `output_dir` is discovered (its latched status arrived) and matched.

        A recorder killed earlier may still be in the DDS graph for a while: counting subscribers or
        servers alone would not tell the new one from the dead one.
        """
        deadline = time.monotonic() + timeout
        while not any(st.get("output_dir") == output_dir for st in list(self.statuses)):
            assert time.monotonic() < deadline, f"no /recorder/status from a recorder on {output_dir}"
            time.sleep(0.05)
        self.wait_matched(timeout)
        time.sleep(0.5)  # the service endpoints of the new participant match alongside its topics

    def call(self, service: graph.Service, timeout: float = 30.0) -> tuple[bool, str]:
        """Call a Trigger service; (success, message)."""
        client = self.clients[service.name]
        if not client.wait_for_service(timeout_sec=timeout):
            raise AssertionError(f"service {service.name} not available within {timeout}s")
        fut = client.call_async(message_class(service.srv_type).Request())
        deadline = time.monotonic() + timeout
        while not fut.done() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert fut.done(), f"{service.name} did not answer within {timeout}s"
        res = fut.result()
        return bool(res.success), str(res.message)

    # ------------------------------------------------------------------ traffic
    def publish_sim_episode(self, seed: int, scenario: str) -> None:
        from std_msgs.msg import String

        self.pubs[graph.SIM_EPISODE.name].publish(String(data=json.dumps({"seed": seed, "scenario": scenario})))

    def publish_for(self, duration_s: float, marker: int, silence: dict[str, float] | None = None) -> Counter:
        """Publish every periodic topic for `duration_s`; a topic in `silence` stops after that many seconds.

        Returns how many messages were published per topic.
        """
        silence = silence or {}
        periodic = [(n, 1.0 / RATES_HZ[t.name]) for n, t in self.topics if t.name in RATES_HZ]
        t0 = time.monotonic()
        due = {n: t0 for n, _ in periodic}
        counts: Counter = Counter()
        while True:
            now = time.monotonic()
            if now - t0 >= duration_s:
                return counts
            for name, period in periodic:
                if now < due[name]:
                    continue
                due[name] += period
                if now - t0 >= silence.get(name, float("inf")):
                    continue
                self.pubs[name].publish(self._message(name, marker))
                counts[name] += 1
            time.sleep(max(0.0, min(due.values()) - time.monotonic()))

    def _message(self, name: str, marker: int):
        from builtin_interfaces.msg import Time

        t = self.kind[name]
        msg = topic_class(t)()
        now = time.time()
        stamp = Time(sec=int(now), nanosec=int((now % 1) * 1e9))
        if hasattr(msg, "header"):
            msg.header.stamp = stamp
        if t is graph.CAMERA_IMAGE:
            i = self.frames[name]
            self.frames[name] += 1
            msg.header.frame_id = f"{marker}:{i}"
            msg.height, msg.width, msg.encoding, msg.step = self.height, self.width, "rgb8", self.width * 3
            msg.data = np.full(self.height * self.width * 3, pixel_value(marker, i), np.uint8).tobytes()
        elif t is graph.CAMERA_INFO:
            msg.height, msg.width = self.height, self.width
        elif t in (graph.TACTILE_EMBEDDING, graph.TACTILE_MARKER_FLOW):
            msg.data = [float(marker)] * (15 if t is graph.TACTILE_EMBEDDING else 2 * 7 * 9)
        elif t in (graph.FRANKA_EE_POSE, graph.FRANKA_TARGET_POSE):
            msg.pose.position.x, msg.pose.position.z = 0.4 + 0.001 * marker, now % 10
            msg.pose.orientation.w = 1.0
        elif t is graph.FRANKA_WRENCH:
            msg.wrench.force.z = float(marker)
        elif t is graph.FRANKA_GRIPPER_STATE:
            msg.name, msg.position = ["width"], [0.08]
        elif t is graph.FRANKA_JOINT_STATES:
            msg.name = [f"fr3_joint{i}" for i in range(1, 8)]
            msg.position = [0.0] * 7
        elif t is graph.FRANKA_GRIPPER_COMMAND:
            msg.data = [0.05, 0.1, 0.0]
        return msg

    def close(self) -> None:
        import rclpy

        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.ctx)
