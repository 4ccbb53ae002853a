"""Recorder throughput: 2 cameras 640x480 @ 30 Hz + tactile @ 30 Hz + arm state @ 100 Hz, and the drops.

Runs the recorder node as a real process, publishes from this process over DDS for `--seconds`,
records one episode, then reads the MCAP back and prints: messages and MB per second, messages
published vs recorded per topic (missing = dropped), the recorder's own drop count (publisher
sequence gaps + queue overflow), transport latency (receive - send, median / p99) and the recorder
process's CPU use.

    .venv/bin/python bench/bench_recorder.py --seconds 20 [--compression zstd|lz4|none]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import yaml

from hardware.child_process import die_with_parent
from rstack.dds import use_stack_dds_profile

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randint(101, 200)))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")

FASTDDS_SHM_PROFILE = """<?xml version="1.0" encoding="UTF-8" ?>
<profiles xmlns="http://www.eprosima.com/XMLSchemas/fastRTPS_Profiles">
  <transport_descriptors>
    <transport_descriptor><transport_id>shm_big</transport_id><type>SHM</type>
      <segment_size>{segment}</segment_size></transport_descriptor>
    <transport_descriptor><transport_id>udp</transport_id><type>UDPv4</type></transport_descriptor>
  </transport_descriptors>
  <participant profile_name="rstack_big_shm" is_default_profile="true">
    <rtps>
      <userTransports><transport_id>shm_big</transport_id><transport_id>udp</transport_id></userTransports>
      <useBuiltinTransports>false</useBuiltinTransports>
    </rtps>
  </participant>
</profiles>
"""

RATES = {"image": 30.0, "info": 30.0, "tactile": 30.0, "state": 100.0, "target": 50.0}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--compression", default="zstd", choices=["zstd", "lz4", "none"])
    ap.add_argument("--queue-depth", type=int, default=50, help="recorder's subscription queue depth")
    ap.add_argument("--keep", action="store_true", help="keep the recorded episode (default: delete it)")
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument(
        "--fastdds-shm-mb",
        type=int,
        default=0,
        help="give both sides a Fast DDS profile with a shared-memory segment of this size "
        "(0: the stack's profile, rstack/fastdds_profile.xml, 64 MB)",
    )
    args = ap.parse_args()
    if args.fastdds_shm_mb:
        prof = Path(tempfile.mkdtemp(prefix="fastdds_")) / "profile.xml"
        prof.write_text(FASTDDS_SHM_PROFILE.format(segment=args.fastdds_shm_mb * 1024 * 1024))
        os.environ["FASTRTPS_DEFAULT_PROFILES_FILE"] = str(prof)
        os.environ["RMW_FASTRTPS_USE_QOS_FROM_XML"] = "0"
    use_stack_dds_profile()  # unless --fastdds-shm-mb chose another: the stack's own setting

    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    from rstack import graph
    from rstack.nodes.recorder_node import recorded_topics
    from rstack.ros_types import message_class, topic_class, topic_qos

    tmp = Path(tempfile.mkdtemp(prefix="bench_recorder_"))
    out = tmp / "episodes"
    params = {
        "profile": "sim",
        "output_dir": str(out),
        "min_free_gb": 1.0,
        "stop_free_gb": 0.5,
        "compression": args.compression,
        "queue_depth": args.queue_depth,
    }
    (tmp / "p.yaml").write_text(yaml.safe_dump({"/**": {"ros__parameters": params}}))
    env = dict(os.environ)
    rec = subprocess.Popen(
        [str(Path(sys.executable).parent / "recorder_node"), "--ros-args", "--params-file", str(tmp / "p.yaml")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=die_with_parent(signal.SIGINT),  # no recorder left running by a killed benchmark
    )
    log: list[str] = []
    threading.Thread(target=lambda: log.extend(rec.stdout), daemon=True).start()

    rclpy.init()
    node = rclpy.create_node("bench_recorder_pub")
    topics = recorded_topics("sim")
    pubs = {n: node.create_publisher(topic_class(t), n, topic_qos(t)) for n, t in topics}
    clients = {s.name: node.create_client(message_class(s.srv_type), s.name) for s in graph.RECORDER.serves}
    ex = SingleThreadedExecutor()
    ex.add_node(node)
    threading.Thread(target=ex.spin, daemon=True).start()

    def call(service: graph.Service) -> str:
        c = clients[service.name]
        assert c.wait_for_service(timeout_sec=60), f"{service.name} not up:\n{''.join(log)}"
        fut = c.call_async(message_class(service.srv_type).Request())
        while not fut.done():
            time.sleep(0.01)
        res = fut.result()
        assert res.success, res.message
        return res.message

    deadline = time.monotonic() + 60
    while any(p.get_subscription_count() < 1 for p in pubs.values()):
        assert time.monotonic() < deadline, "recorder did not subscribe:\n" + "".join(log)
        time.sleep(0.1)
    time.sleep(1.0)

    kind = {
        graph.CAMERA_IMAGE.name: "image",
        graph.CAMERA_INFO.name: "info",
        graph.TACTILE_EMBEDDING.name: "tactile",
        graph.TACTILE_MARKER_FLOW.name: "tactile",
        graph.FRANKA_JOINT_STATES.name: "state",
        graph.FRANKA_EE_POSE.name: "state",
        graph.FRANKA_WRENCH.name: "state",
        graph.FRANKA_GRIPPER_STATE.name: "state",
        graph.FRANKA_TARGET_POSE.name: "target",
    }
    periodic = [(n, 1.0 / RATES[kind[t.name]], t) for n, t in topics if t.name in kind]
    rng = np.random.default_rng(0)
    # noise compresses like a real image would not: use a smooth gradient plus noise, a fair middle ground
    base = (np.add.outer(np.arange(args.height), np.arange(args.width)) % 256).astype(np.uint8)
    frames = [
        np.dstack([base, base[::-1], base[:, ::-1]]) + rng.integers(0, 8, (args.height, args.width, 3), np.uint8)
        for _ in range(4)
    ]
    msgs = {}
    for n, _, t in periodic:
        m = topic_class(t)()
        if t is graph.CAMERA_IMAGE:
            m.height, m.width, m.encoding, m.step = args.height, args.width, "rgb8", args.width * 3
        elif t is graph.TACTILE_EMBEDDING:
            m.data = [0.1] * 15
        elif t is graph.TACTILE_MARKER_FLOW:
            m.data = [0.1] * (2 * 7 * 9)
        elif t is graph.FRANKA_JOINT_STATES:
            m.name, m.position, m.velocity, m.effort = [f"j{i}" for i in range(7)], [0.0] * 7, [0.0] * 7, [0.0] * 7
        msgs[n] = m
    image_data = [f.tobytes() for f in frames]

    eid = json.loads(call(graph.RECORDER_START))["id"]
    cpu0, wall0 = cpu_seconds(rec.pid), time.monotonic()
    published: Counter = Counter()
    late: list[float] = []
    t0 = time.monotonic()
    due = {n: t0 for n, _, _ in periodic}
    while time.monotonic() - t0 < args.seconds:
        now = time.monotonic()
        for n, period, t in periodic:
            if now < due[n]:
                continue
            late.append(now - due[n])
            # like a driver: a missed period is skipped, never sent as a burst
            due[n] = due[n] + period if now - due[n] < period else now + period
            m = msgs[n]
            if hasattr(m, "header"):
                m.header.stamp = node.get_clock().now().to_msg()
            if t is graph.CAMERA_IMAGE:
                m.data = image_data[published[n] % len(image_data)]
            pubs[n].publish(m)
            published[n] += 1
        time.sleep(max(0.0, min(due.values()) - time.monotonic()))
    pub_s = time.monotonic() - t0
    entry = json.loads(call(graph.RECORDER_STOP_SUCCESS))
    cpu = cpu_seconds(rec.pid) - cpu0
    wall = time.monotonic() - wall0
    rec.terminate()
    rec.wait(timeout=30)
    ex.shutdown()
    node.destroy_node()
    rclpy.shutdown()

    from mcap.reader import make_reader

    path = out / entry["file"]
    recorded: Counter = Counter()
    lat: dict[str, list[float]] = {}
    nbytes = 0
    with open(path, "rb") as f:
        for _, ch, m in make_reader(f).iter_messages(log_time_order=False):
            recorded[ch.topic] += 1
            nbytes += len(m.data)
            lat.setdefault(ch.topic, []).append((m.log_time - m.publish_time) / 1e6)
    missing = {n: published[n] - recorded[n] for n in published}
    total_pub = sum(published.values())
    print(
        f"episode {eid}: {pub_s:.1f} s published, compression {args.compression}, "
        f"images {args.width}x{args.height}, Fast DDS SHM segment {args.fastdds_shm_mb or 'default'} MB"
    )
    print(f"{'topic':34s} {'published':>9s} {'recorded':>9s} {'missing':>8s} {'lat p50 ms':>10s} {'lat p99 ms':>10s}")
    for n in sorted(published):
        v = np.asarray(lat.get(n, [0.0]))
        print(
            f"{n:34s} {published[n]:9d} {recorded[n]:9d} {missing[n]:8d} "
            f"{np.percentile(v, 50):10.2f} {np.percentile(v, 99):10.2f}"
        )
    print(
        f"messages: {total_pub} published, {sum(recorded[n] for n in published)} recorded, "
        f"{sum(missing.values())} missing; recorder-counted drops: {sum(entry['drops'].values())}"
    )
    print(
        f"throughput: {total_pub / pub_s:.0f} msg/s, {nbytes / 1e6 / pub_s:.1f} MB/s of CDR payload; "
        f"file {path.stat().st_size / 1e6:.1f} MB ({path.stat().st_size / max(1, nbytes):.2f} of payload)"
    )
    lt = np.asarray(late) * 1e3
    print(f"publisher schedule lateness: p50 {np.percentile(lt, 50):.2f} ms, p99 {np.percentile(lt, 99):.2f} ms")
    print(f"recorder process CPU: {cpu / wall * 100:.0f}% of one core over {wall:.1f} s")
    if args.keep:
        print(f"episode kept in {out}")
    else:
        shutil.rmtree(tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
