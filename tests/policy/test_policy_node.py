"""The policy node as a real process on a real bundle: sensors in over DDS, targets and monitor features out."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Float32MultiArray

from hardware.realtime import realtime_available
from hardware.tactile.layout import layout_dims
from hardware.tactile.wire import encode_tactile_array
from policy_runtime.engine.bundle import load_bundle
from policy_runtime.fiper.messages import decode_chunks, decode_embedding
from rstack import graph
from rstack.msg_convert import array_to_pose, float_array_msg, pose_to_array
from rstack.node_support import s_to_stamp
from rstack.ros_types import topic_qos
from tests.helpers.procs import node_proc

pytestmark = pytest.mark.ros
POSE = np.array([0.5, 0.0, 0.3, 1.0, 0.0, 0.0, 0.0])


SCHED_OTHER, SCHED_FIFO = 0, 1  # as /proc/<pid>/task/<tid>/stat reports them


def _thread_scheduling(pid: int) -> list[tuple[int, int]]:
    """(policy, real-time priority) of each thread of process `pid` (fields 41 and 40 of its stat line)."""
    out = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
        except FileNotFoundError:  # the thread ended meanwhile
            continue
        fields = stat.rsplit(")", 1)[1].split()
        out.append((int(fields[38]), int(fields[37])))
    return out


def _thread_policies(pid: int) -> list[int]:
    return [policy for policy, _prio in _thread_scheduling(pid)]


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid`."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(d.name))
            except (FileNotFoundError, ProcessLookupError):
                continue
    return out


def test_policy_node_follows_sensors_and_holds_when_touch_stops(bundle_dir, ros_node, tmp_path):
    from rclpy.executors import SingleThreadedExecutor

    bundle = load_bundle(bundle_dir)
    cams, touch_dim = bundle.cameras, bundle.shapes["touch_dim"]
    params = {
        "policy_dir": str(bundle_dir),
        "tactile_sensor": "tool",
        "num_samples": 4,
        "planner_rate_hz": 4.0,
        "max_action_jump_m": 0.5,  # the test bundle is barely trained: its actions are not smooth
    }
    node = node_proc("policy_node", params, name="policy", tmp=tmp_path)
    targets: list[np.ndarray] = []
    embs: dict[int, np.ndarray] = {}
    chunks: dict[int, np.ndarray] = {}
    diags: list[str] = []
    diag_values: dict[str, float] = {}
    held: list[str] = []  # the node's count of held ticks by reason, as diagnostics report it
    n = ros_node
    n.create_subscription(PoseStamped, graph.FRANKA_TARGET_POSE.name, lambda m: targets.append(pose_to_array(m)), 50)
    n.create_subscription(
        Float32MultiArray, graph.POLICY_EMBEDDING.name,
        lambda m: embs.__setitem__(*decode_embedding(m.layout.dim, m.data)), 10,
    )  # fmt: skip
    n.create_subscription(
        Float32MultiArray, graph.POLICY_SAMPLED_CHUNKS.name,
        lambda m: chunks.__setitem__(*decode_chunks(m.layout.dim, m.data)), 10,
    )  # fmt: skip

    stream_latency: dict[str, float] = {}  # per input stream: capture stamp -> taken, as diagnostics report it

    def on_diagnostics(msg: DiagnosticArray) -> None:
        for st in msg.status:
            if st.name.startswith("policy/"):
                stream_latency.update({st.name[7:]: float(kv.value) for kv in st.values if kv.key == "latency_s"})
            if st.name == "policy":
                diags.append(st.message)
                for kv in st.values:  # the highest value each key has had (diagnostics can lag behind)
                    if kv.key == "held_ticks":
                        held.append(kv.value)
                    if kv.key == "fast_plans_prepared" or (kv.key.startswith("camera_") and kv.key.endswith("_hz")):
                        diag_values[kv.key] = max(float(kv.value), float(diag_values.get(kv.key, 0.0)))

    n.create_subscription(DiagnosticArray, graph.DIAGNOSTICS.name, on_diagnostics, 10)
    img_pubs = {
        c: n.create_publisher(Image, graph.CAMERA_IMAGE.resolve(name=c), topic_qos(graph.CAMERA_IMAGE)) for c in cams
    }
    pose_pub = n.create_publisher(PoseStamped, graph.FRANKA_EE_POSE.name, topic_qos(graph.FRANKA_EE_POSE))
    grip_pub = n.create_publisher(JointState, graph.FRANKA_GRIPPER_STATE.name, topic_qos(graph.FRANKA_GRIPPER_STATE))
    touch_pub = n.create_publisher(
        Float32MultiArray, graph.TACTILE_EMBEDDING.resolve(name="tool"), topic_qos(graph.TACTILE_EMBEDDING)
    )
    ex = SingleThreadedExecutor(context=n.context)
    ex.add_node(n)
    img = Image(height=60, width=80, encoding="rgb8", step=240, data=bytes(np.full(60 * 240, 90, np.uint8)))

    def publish(with_touch: bool, dim: int = touch_dim, truncated: bool = False) -> None:
        t = n.get_clock().now().nanoseconds * 1e-9
        stamp = s_to_stamp(t)
        for pub in img_pubs.values():
            img.header.stamp = stamp
            pub.publish(img)
        pose_pub.publish(array_to_pose(POSE, stamp, "base"))
        g = JointState(name=["width", "grasped"], position=[0.04, 0.0])
        g.header.stamp = stamp
        grip_pub.publish(g)
        if truncated:  # the serialized message cut short by 4 bytes (the node takes touch as bytes)
            touch_pub.publish(encode_tactile_array(np.zeros(dim), ["embedding"], t)[:-4])
        elif with_touch:
            touch_pub.publish(float_array_msg(layout_dims((dim,), ("embedding",), t), np.zeros(dim)))

    def run(seconds: float, with_touch: bool, dim: int = touch_dim, truncated: bool = False) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            publish(with_touch, dim, truncated)
            ex.spin_once(timeout_sec=0.02)
            time.sleep(0.01)

    try:
        node.wait_for("policy from", timeout=90)
        deadline = time.monotonic() + 60
        while len(targets) < 20 and time.monotonic() < deadline:
            run(0.5, with_touch=True)
        assert len(targets) >= 20, (diags[-3:], node.output)
        assert all(np.all(np.isfinite(t)) and abs(np.linalg.norm(t[3:7]) - 1) < 1e-6 for t in targets)
        assert all(np.linalg.norm(t[:3] - POSE[:3]) < 0.5 for t in targets)
        steps = sorted(set(embs) & set(chunks))
        assert steps, "no planner step published both its embedding and its chunks"
        assert chunks[steps[-1]].shape == (4, bundle.shapes["horizon"], 3)
        # The fast path runs real-time where the machine allows it; the planner process never does. The thread that
        # waits on that process stays real-time one priority below (never descheduled while it holds the GIL).
        if realtime_available(40):
            assert "fast path SCHED_FIFO 40" in node.output, node.output
            sched = _thread_scheduling(node.p.pid)
            assert {policy for policy, _ in sched} == {SCHED_FIFO}, sched
            assert sorted({prio for _, prio in sched}) == [39, 40], sched
            planner = [c for c in _children(node.p.pid) if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]
            assert planner and all(set(_thread_policies(c)) == {SCHED_OTHER} for c in planner)
        # The planner process takes the frames off the wire itself, and says at what rate they arrive.
        deadline = time.monotonic() + 10
        while not all(diag_values.get(f"camera_{c}_hz", 0) > 0 for c in cams) and time.monotonic() < deadline:
            run(0.5, with_touch=True)
        assert all(diag_values.get(f"camera_{c}_hz", 0) > 0 for c in cams), diag_values
        # The fast head, woken by the planner, took new plans between ticks (not inside the tick that uses them).
        assert diag_values.get("fast_plans_prepared", 0) >= 1, diag_values
        # Pose and gripper state are taken as bytes too; their header stamps still reach the stream diagnostics.
        for topic in (graph.FRANKA_EE_POSE.name, graph.FRANKA_GRIPPER_STATE.name):
            assert 0.0 <= stream_latency.get(topic, -1.0) < 1.0, stream_latency
        # Touch of the wrong size: refused with an error that says why, the arm held, the node alive.
        run(1.0, with_touch=True, dim=touch_dim + 1)
        n_before = len(targets)
        run(1.0, with_touch=True, dim=touch_dim + 1)
        assert len(targets) <= n_before + 1, ("targets sent on refused touch", diags[-3:])
        assert f"message refused: ValueError: touch features must have shape ({touch_dim},)" in node.output
        # Touch bytes cut short on the wire: refused too, with what is wrong, and nothing sent on them.
        run(1.0, with_touch=False, truncated=True)
        n_before = len(targets)
        deadline = time.monotonic() + 8  # the node logs a refused message at most every 5 s
        while "do not fit" not in node.output and time.monotonic() < deadline:
            run(0.5, with_touch=False, truncated=True)
        assert len(targets) <= n_before + 1, ("targets sent on truncated touch", diags[-3:])
        assert f"message refused: ValueError: {touch_dim} values do not fit" in node.output
        assert node.p.poll() is None, node.output
        n_before = len(targets)
        deadline = time.monotonic() + 20
        while len(targets) < n_before + 5 and time.monotonic() < deadline:
            run(0.5, with_touch=True)  # good touch again: targets again
        assert len(targets) >= n_before + 5, (diags[-3:], node.output)
        run(1.0, with_touch=False)  # touch stops: the policy must hold
        n_before = len(targets)
        run(1.5, with_touch=False)
        assert len(targets) <= n_before + 1, ("targets kept flowing without touch", diags[-3:], targets[-1])
        assert any("holding: touch stale" in d or "holding: observation stale" in d for d in diags[-3:]), diags[-5:]
        assert held and ("touch stale" in held[-1] or "observation stale" in held[-1]), held[-3:]
    finally:
        ex.remove_node(n)
        code = node.stop()
    assert code == 0, node.output
    node.assert_no_errors(
        allowed=[
            "message refused: ValueError: touch features must have shape",
            "message refused: ValueError: .* do not fit",
        ]
    )
