"""The franka node as a real process over real rclpy, driving franky-sim over the libfranka protocol.

One sim server (with a fixed box under the arm and the contact model, so pushing into the box
produces a real libfranka Cartesian reflex) and one node serve the whole module.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from rstack import graph
from tests.helpers.franky_sim_server import FrankySimServer
from tests.helpers.procs import Proc, node_proc

pytestmark = [pytest.mark.ros, pytest.mark.sim]

OBSTACLE = (0.55, 0.0, 0.35, 0.1, 0.1, 0.05)  # box top at z = 0.40, 12 cm under the start pose
REFLEX_ALLOWED = [r"reflex", r"mode .* -> error"]


@pytest.fixture(scope="module")
def franka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    tmp: Path = tmp_path_factory.mktemp("franka")
    with FrankySimServer(obstacle=OBSTACLE, contact_model=True) as sim:
        params = {
            "robot_ip": sim.host,
            "watchdog_timeout_s": 0.3,
            "max_target_age_s": 0.5,
            "collision_force_n": 20.0,
            "dynamics_factor": 0.2,
        }
        p = node_proc("franka_node", params, name="franka", tmp=tmp)
        try:
            p.wait_for(r"connected to 127\.", timeout=60)
            yield p
            assert p.p.poll() is None, "the node died:\n" + p.output
        except BaseException:
            print("franka node output:\n" + p.output)
            raise
        finally:
            p.stop()
        p.assert_no_errors(allowed=REFLEX_ALLOWED)


class Probe:
    """Subscriptions and service clients of the test's own rclpy node."""

    def __init__(self, node) -> None:
        from rstack.ros_types import topic_class, topic_qos

        self.node = node
        self.last: dict[str, object] = {}
        self.stamps: dict[str, list[float]] = {"joints": [], "pose": []}
        self.diag: dict[str, str] = {}
        self.diag_level = -1

        def keep(key: str) -> Callable[[object], None]:
            def cb(msg: object) -> None:
                self.last[key] = msg
                if key in self.stamps:
                    self.stamps[key].append(msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9)

            return cb

        for key, topic in (
            ("joints", graph.FRANKA_JOINT_STATES),
            ("pose", graph.FRANKA_EE_POSE),
            ("wrench", graph.FRANKA_WRENCH),
            ("gripper", graph.FRANKA_GRIPPER_STATE),
            ("status", graph.FRANKA_STATUS),
        ):
            node.create_subscription(topic_class(topic), topic.name, keep(key), topic_qos(topic))
        node.create_subscription(
            topic_class(graph.DIAGNOSTICS), graph.DIAGNOSTICS.name, self._on_diag, topic_qos(graph.DIAGNOSTICS)
        )
        self.pub = node.create_publisher(
            topic_class(graph.FRANKA_TARGET_POSE), graph.FRANKA_TARGET_POSE.name, topic_qos(graph.FRANKA_TARGET_POSE)
        )
        from rstack.ros_types import message_class

        srv = message_class(graph.FRANKA_SAFE_STOP.srv_type)
        self.safe_stop = node.create_client(srv, graph.FRANKA_SAFE_STOP.name)
        self.reset = node.create_client(srv, graph.FRANKA_RESET.name)
        self.srv_type = srv
        from rclpy.executors import SingleThreadedExecutor

        self.executor = SingleThreadedExecutor(context=node.context)
        self.executor.add_node(node)

    def _on_diag(self, msg) -> None:
        for st in msg.status:
            if st.name.endswith("/arm"):
                self.diag = {kv.key: kv.value for kv in st.values}
                self.diag_level = int.from_bytes(st.level, "little") if isinstance(st.level, bytes) else st.level

    def spin(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.executor.spin_once(timeout_sec=0.01)

    def until(self, cond: Callable[[], bool], timeout: float = 20.0, what: str = "") -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.executor.spin_once(timeout_sec=0.02)
            if cond():
                return
        raise AssertionError(f"timed out waiting for {what}; diag={self.diag} status={self.status()}")

    def position(self) -> np.ndarray:
        p = self.last["pose"].pose.position
        return np.array([p.x, p.y, p.z])

    def quaternion(self) -> list[float]:
        o = self.last["pose"].pose.orientation
        return [o.x, o.y, o.z, o.w]

    def status(self) -> dict:
        s = self.last.get("status")
        return json.loads(s.data) if s is not None else {}

    def send(self, pos, stamp_offset_s: float = 0.0, frame: str = "base") -> None:
        from geometry_msgs.msg import PoseStamped
        from rclpy.time import Time

        m = PoseStamped()
        now = self.node.get_clock().now().nanoseconds + int(stamp_offset_s * 1e9)
        m.header.stamp = Time(nanoseconds=now).to_msg()
        m.header.frame_id = frame
        m.pose.position.x, m.pose.position.y, m.pose.position.z = (float(v) for v in pos)
        o = m.pose.orientation
        o.x, o.y, o.z, o.w = self.quaternion()
        self.pub.publish(m)

    def stream(self, path: Callable[[float], np.ndarray], seconds: float) -> None:
        t0 = time.monotonic()
        while (t := time.monotonic() - t0) < seconds:
            self.send(path(t))
            self.spin(0.02)

    def call(self, client) -> object:
        assert client.wait_for_service(timeout_sec=20.0)
        fut = client.call_async(self.srv_type.Request())
        self.executor.spin_until_future_complete(fut, timeout_sec=20.0)
        assert fut.done(), f"{client.srv_name} got no answer"
        return fut.result()


@pytest.fixture
def probe(franka: Proc, ros_node) -> Probe:
    pr = Probe(ros_node)
    pr.until(lambda: "pose" in pr.last and "status" in pr.last and pr.diag, timeout=30, what="state topics")
    return pr


def test_state_bad_targets_safe_stop_and_reset(probe: Probe) -> None:
    pr = probe
    # State: one clock for all topics, a 6-D TCP wrench, the gripper width.
    pr.spin(1.0)
    assert set(pr.stamps["joints"]) & set(pr.stamps["pose"]), "joint_states and ee_pose not stamped by one tick"
    assert len(pr.last["joints"].position) == 7 and pr.last["joints"].header.frame_id == "base"
    assert pr.last["wrench"].header.frame_id == "base"
    assert pr.last["gripper"].name[0] == "width" and 0.0 < pr.last["gripper"].position[0] <= 0.08
    assert pr.status()["mode"] in ("idle", "holding")

    # Bad targets: NaN, outside the box (reject mode), stale. The arm does not move.
    start = pr.position()
    # The command QoS keeps only the newest target, so each bad one is re-sent until it is counted.
    for pos, offset, reason in (
        ([np.nan, start[1], start[2]], 0.0, "nan_inf"),
        ([0.95, 0.0, 0.3], 0.0, "out_of_workspace"),
        (start + np.array([0.0, 0.0, -0.01]), -2.0, "stale"),
    ):
        t_end = time.monotonic() + 20.0
        while int(pr.diag.get(f"rejected.{reason}", 0)) < 1 and time.monotonic() < t_end:
            pr.send(pos, stamp_offset_s=offset)
            pr.spin(0.3)
        assert int(pr.diag.get(f"rejected.{reason}", 0)) >= 1, f"no {reason} rejection on /diagnostics: {pr.diag}"
    pr.spin(0.5)
    assert np.linalg.norm(pr.position() - start) < 5e-4
    assert pr.diag["last_rejection"]

    # A live stream moves the arm; safe stop halts it and latches.
    pr.stream(lambda t: start + np.array([0.0, 0.05 * t, 0.0]), seconds=1.0)
    pr.until(lambda: np.linalg.norm(pr.position() - start) > 1e-3, what="the arm moving with the stream")
    assert pr.call(pr.safe_stop).success
    pr.until(lambda: pr.status().get("mode") == "stopped", what="stopped status")
    pr.spin(1.0)  # decelerate to rest
    rest = pr.position()
    pr.stream(lambda t: rest + np.array([0.0, 0.0, -0.01]), seconds=0.5)
    pr.until(lambda: int(pr.diag.get("rejected.safe_stopped", 0)) >= 1, what="safe_stopped rejections")
    assert np.linalg.norm(pr.position() - rest) < 5e-4
    # Reset returns it to service.
    assert pr.call(pr.reset).success
    pr.until(lambda: pr.status().get("mode") == "idle", what="idle after reset")
    goal = rest + np.array([0.0, 0.0, -0.01])
    pr.stream(lambda t: goal, seconds=1.5)
    pr.until(lambda: np.linalg.norm(pr.position() - goal) < 0.005, what="moving again after reset")


def test_reflex_is_reported_survived_and_reset(probe: Probe, franka: Proc) -> None:
    pr = probe
    if pr.status().get("mode") != "idle":
        pr.call(pr.reset)
    start = pr.position()
    # Drive down into the box (top at z = 0.40) until the robot's reflex aborts the motion.
    t0 = time.monotonic()
    while pr.status().get("mode") != "error" and time.monotonic() - t0 < 30.0:
        pr.send([start[0], start[1], max(0.30, start[2] - 0.02 * (time.monotonic() - t0))])
        pr.spin(0.02)
    st = pr.status()
    assert st["mode"] == "error" and "reflex" in st["reason"], st
    assert franka.p.poll() is None  # the node survived the reflex
    pr.until(lambda: "reflex" in pr.diag.get("reason", ""), what="reflex on /diagnostics")
    # Targets are refused until reset.
    pr.send(pr.position() + np.array([0.0, 0.0, 0.01]))
    pr.until(lambda: int(pr.diag.get("rejected.error_state", 0)) >= 1, what="error_state rejection")
    res = pr.call(pr.reset)
    assert res.success, res.message
    pr.until(lambda: pr.status().get("mode") == "idle", what="idle after recovery")
    up = pr.position() + np.array([0.0, 0.0, 0.03])
    pr.stream(lambda t: up, seconds=1.5)
    pr.until(lambda: np.linalg.norm(pr.position() - up) < 0.005, what="moving up after recovery")
