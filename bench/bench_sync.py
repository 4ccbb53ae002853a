"""Skew statistics of the observation sync buffer, its cost, and the camera node's publish latency.

1. ObsSync over simulated multi-rate streams with capture jitter and transport delay: two cameras
   at 15 Hz, tactile at 30 Hz, arm state at 100 Hz, queried at the 24 Hz control rate.
2. push/query cost (median / p99 us).
3. camera_node (a real process playing a 640x480 recording through the SDK) -> subscriber:
   receive time minus the header's capture stamp (median / p99 ms) over real DDS.
Run: .venv/bin/python bench/bench_sync.py [--no-ros]
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from policy_runtime.obs_sync import ObsSync


def pct(a: list[float] | np.ndarray, scale: float = 1.0) -> str:
    x = np.asarray(a) * scale
    return f"median {np.median(x):.3f}, p99 {np.percentile(x, 99):.3f}"


def simulated_skew(seconds: float = 120.0) -> None:
    rng = np.random.default_rng(0)
    rates = {"camera_external": 15.0, "camera_wrist": 15.0, "tactile_left": 30.0, "arm": 100.0}
    sync = ObsSync(list(rates), max_skew_s=0.1, max_age_s=0.25, history=256)
    events = []  # (arrival, stream, stamp)
    for name, hz in rates.items():
        phase = rng.uniform(0, 1 / hz)
        stamps = phase + np.arange(int(seconds * hz)) / hz + rng.normal(0, 0.5e-3, int(seconds * hz))
        arrival = stamps + rng.uniform(0.002, 0.02 if "camera" in name else 0.005, stamps.size)
        keep = rng.random(stamps.size) > 0.01  # 1 % dropped
        events += [(a, name, s) for a, s in zip(arrival[keep], stamps[keep], strict=True)]
    events.sort()
    queries = np.arange(1.0, seconds, 1 / 24.0)
    ok = 0
    i = 0
    for t in tqdm(queries, desc="sync sim", leave=False):
        while i < len(events) and events[i][0] <= t:
            sync.push(events[i][1], events[i][2], None)
            i += 1
        ok += bool(sync.query(t))
    st = sync.skew_stats()
    print(
        f"skew over {len(queries)} queries at 24 Hz (2x cam 15 Hz, tactile 30 Hz, arm 100 Hz, 1% drops): "
        f"median {st['p50_ms']:.1f} ms, p99 {st['p99_ms']:.1f} ms, max {st['max_ms']:.1f} ms, "
        f"accepted {ok / len(queries):.1%} (max_skew 100 ms, max_age 250 ms); reasons {dict(sync.reasons)}"
    )


def cost() -> None:
    sync = ObsSync(["a", "b", "c", "d"], history=64)
    push_t, query_t = [], []
    for k in range(20000):
        t0 = time.perf_counter()
        sync.push("abcd"[k % 4], k * 0.001, k)
        t1 = time.perf_counter()
        sync.query(k * 0.001)
        t2 = time.perf_counter()
        push_t.append(t1 - t0)
        query_t.append(t2 - t1)
    print(f"push: {pct(push_t, 1e6)} us; query (4 streams): {pct(query_t, 1e6)} us")


def camera_latency(n_frames: int = 150) -> None:
    os.environ.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randint(101, 200)))
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    import pyrealsense2 as rs
    import rclpy

    from hardware.realsense import CameraConfig, RealSenseCamera
    from hardware.realsense.software import SoftwareCamera
    from rstack import graph
    from rstack.ros_types import topic_class, topic_qos
    from tests.helpers.procs import node_proc

    tmp = Path(tempfile.mkdtemp(prefix="bench_cam_"))
    rec = tmp / "cam.db3"
    sc = SoftwareCamera("7001", width=640, height=480, depth=False)
    recorder = rs.recorder(str(rec), sc.device)
    cam = RealSenseCamera(sc.device, CameraConfig(width=640, height=480, fps=30))
    cam.start()
    img = np.random.default_rng(0).integers(0, 255, (480, 640, 3), np.uint8)
    start = time.monotonic()
    for n in tqdm(range(1, n_frames + 1), desc="recording", leave=False):
        time.sleep(max(0.0, start + n / 30 - time.monotonic()))
        sc.inject(n, time.time() * 1e3, color=img, domain="global_time")
        cam.read(2.0)
    cam.stop()
    recorder.pause()
    del recorder

    rclpy.init()
    node = rclpy.create_node("bench_probe")
    lat: list[float] = []

    def on_image(msg) -> None:
        now = node.get_clock().now().nanoseconds * 1e-9
        lat.append(now - (msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9))

    t = graph.CAMERA_IMAGE
    node.create_subscription(topic_class(t), t.resolve(name="bench"), on_image, topic_qos(t))
    params = {"device_name": "bench", "source": str(rec), "width": 640, "height": 480}
    with node_proc("camera_node", params, name="camera_bench", tmp=tmp):
        deadline = time.monotonic() + 60
        while len(lat) < n_frames - 10 and time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.05)
    node.destroy_node()
    rclpy.shutdown()
    if len(lat) < 10:
        print(f"camera_node latency: only {len(lat)} frames received")
        return
    print(
        f"camera_node 640x480 rgb8 capture stamp -> subscriber receive over DDS ({len(lat)} frames): "
        f"{pct(lat[5:], 1e3)} ms"
    )


def main() -> None:
    simulated_skew()
    cost()
    if "--no-ros" not in sys.argv:
        camera_latency()


if __name__ == "__main__":
    main()
