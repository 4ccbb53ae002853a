"""sim_world_node as a real process: sensor topics at their rates with capture stamps, the embedded
libfranka server accepts a franky client, and the reset service starts a new seeded episode."""

from __future__ import annotations

import itertools
import json
import time

import numpy as np
import pytest

from hardware.realtime import scheduling_restored
from hardware.tactile.layout import stamp_from_labels
from rstack import graph
from rstack.ros_types import topic_class, topic_qos
from tests.helpers.procs import node_proc
from tests.sim.helpers import random_loopback

pytestmark = [pytest.mark.ros, pytest.mark.sim]

CAMERA_HZ, TACTILE_HZ = 5.0, 30.0


def _collect(node, executor, topics: dict[str, graph.Topic], seconds: float) -> dict[str, list]:
    got: dict[str, list] = {name: [] for name in topics}
    for name, topic in topics.items():
        node.create_subscription(
            topic_class(topic), name, lambda m, n=name: got[n].append((time.time(), m)), topic_qos(topic)
        )
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        executor.spin_once(timeout_sec=0.05)
    return got


def _rate(stamps: list[float]) -> float:
    return (len(stamps) - 1) / (stamps[-1] - stamps[0])


def test_sim_world_node_serves_sensors_episodes_and_the_arm(ros_node, tmp_path) -> None:
    import franky
    from rclpy.executors import SingleThreadedExecutor
    from std_srvs.srv import Trigger

    executor = SingleThreadedExecutor(context=ros_node.context)
    executor.add_node(ros_node)

    host = random_loopback()
    params = {"host": host, "seed": 5, "camera_rate_hz": CAMERA_HZ, "camera_width": 128, "camera_height": 96}
    with node_proc("sim_world_node", params, name="sim_world", tmp=tmp_path) as proc:
        proc.wait_for(r"sim world up", timeout=90)
        topics = {
            graph.CAMERA_IMAGE.resolve(name="external"): graph.CAMERA_IMAGE,
            graph.CAMERA_INFO.resolve(name="external"): graph.CAMERA_INFO,
            graph.CAMERA_IMAGE.resolve(name="wrist"): graph.CAMERA_IMAGE,
            graph.TACTILE_MARKER_FLOW.resolve(name="tool"): graph.TACTILE_MARKER_FLOW,
            graph.TACTILE_EMBEDDING.resolve(name="tool"): graph.TACTILE_EMBEDDING,
            graph.SIM_EPISODE.name: graph.SIM_EPISODE,
            graph.SIM_PRIVILEGED_STATE.name: graph.SIM_PRIVILEGED_STATE,
        }
        got = _collect(ros_node, executor, topics, seconds=10.0)

        # Cameras: rgb8 at the configured size, capture-stamped (not a nominal grid), info shares the stamp.
        ext = got["/camera/external/image_raw"][3:]  # skip discovery
        assert len(ext) >= 10, f"only {len(ext)} external frames in 10 s"
        stamps = [m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 for _, m in ext]
        assert all(b > a for a, b in itertools.pairwise(stamps))
        assert all(s <= t for s, (t, _) in zip(stamps, ext, strict=True)), "stamped in the future"
        assert 0.4 * CAMERA_HZ <= _rate(stamps) <= 1.2 * CAMERA_HZ
        img = ext[-1][1]
        assert (img.encoding, img.width, img.height, img.step) == ("rgb8", 128, 96, 128 * 3)
        assert np.frombuffer(bytes(img.data), np.uint8).std() > 5
        info_stamps = {(m.header.stamp.sec, m.header.stamp.nanosec) for _, m in got["/camera/external/camera_info"]}
        # Each frame's info carries its stamp. The last frame's info may still be in flight when collection ends,
        # and a loaded machine may drop a best-effort message, so most frames, not every one, must match.
        matched = [(m.header.stamp.sec, m.header.stamp.nanosec) in info_stamps for _, m in ext[:-1]]
        assert sum(matched) >= 0.8 * len(matched), f"{sum(matched)} of {len(matched)} frames have their info"
        assert len(got["/camera/wrist/image_raw"]) >= 10

        # Tactile: [7, 9, 2] marker flow and a 15-D embedding at >= 24 Hz, stamp in the layout.
        flow = got["/tactile/tool/marker_flow"][10:]
        dims = [(d.size, d.stride) for d in flow[-1][1].layout.dim]
        assert dims == [(7, 126), (9, 18), (2, 2)] and len(flow[-1][1].data) == 126
        t_stamps = [stamp_from_labels([d.label for d in m.layout.dim]) for _, m in flow]
        assert all(b > a for a, b in itertools.pairwise(t_stamps))
        assert 0.7 * TACTILE_HZ <= _rate(t_stamps) <= 1.2 * TACTILE_HZ
        assert len(got["/tactile/tool/embedding"][-1][1].data) == 15

        # Episode record (latched) and privileged state. The record before episode 0 has begun has no episode yet; on a
        # loaded machine the first episode may begin after the collection window, so wait for it (bounded).
        deadline = time.monotonic() + 30.0
        while "episode" not in json.loads(got[graph.SIM_EPISODE.name][-1][1].data) and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.1)
        record = json.loads(got[graph.SIM_EPISODE.name][-1][1].data)
        assert record["episode"] == 0 and record["seed"] == 5, record
        # The sim runs as fast as the machine allows: on a quiet one, episode 0 (20 s of sim time) can end within the
        # collection window. Nothing controls the arm, so it must then have ended by its time limit, nothing else.
        if record["status"] != "running":
            assert record["status"] == "done" and record["outcome"]["kind"] == "timeout", record
            assert record["outcome"]["time_s"] >= record["task"]["time_limit_s"], record
        priv = json.loads(got[graph.SIM_PRIVILEGED_STATE.name][-1][1].data)
        assert priv["table_top_z"] == record["params"]["table_top_z"] and priv["in_contact"] is False

        # The embedded libfranka server: a franky client connects and reads a sane state.
        with scheduling_restored():  # libfranka would leave this thread SCHED_FIFO 99
            robot = franky.Robot(host, realtime_config=franky.RealtimeConfig.Ignore)
        tcp = np.asarray(robot.current_cartesian_state.pose.end_effector_pose.translation)
        assert 0.3 < tcp[0] < 0.8 and tcp[2] > record["params"]["table_top_z"] + 0.1
        del robot

        # Reset: a new seeded episode, announced on the latched topic.
        client = ros_node.create_client(Trigger, graph.SIM_RESET_EPISODE.name)
        assert client.wait_for_service(timeout_sec=20)
        future = client.call_async(Trigger.Request())
        executor.spin_until_future_complete(future, timeout_sec=20)
        resp = future.result()
        assert resp is not None and resp.success, resp
        new = json.loads(resp.message)
        assert new["episode"] == 1 and new["seed"] == 5 and new["table_top_z"] != record["params"]["table_top_z"]
        proc.wait_for(r"episode 1: table top", timeout=10)
        assert proc.stop() == 0
    executor.shutdown()
    proc.assert_no_errors()
