"""Real-time factor of the whole sim profile (world + arm node, on sim time), per configuration.

Run: ``.venv/bin/python bench/bench_sim_profile.py [--seconds 12]``. For each configuration it starts
``rstack up --profile sim`` with a parameter file, waits for the graph to settle, then reads the sim time
from /sim/privileged_state for `--seconds` of wall time; RTF = sim seconds / wall seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

CONFIGS = {
    "no cameras, sim time": {"sim_world": {"camera_rate_hz": 0.0}},
    "no cameras, wall-clock stamps": {"sim_world": {"camera_rate_hz": 0.0}, "/**": {"use_sim_time": False}},
    "2 cameras 320x240 @ 15 Hz (sim time)": {},
    "2 cameras 160x120 @ 15 Hz (sim time)": {"sim_world": {"camera_width": 160, "camera_height": 120}},
}


def measure(seconds: float) -> float:
    import rclpy
    from std_msgs.msg import String

    from rstack import graph
    from rstack.ros_types import topic_qos

    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    node = rclpy.create_node("bench_sim_profile", context=ctx)
    got: list[tuple[float, float]] = []
    node.create_subscription(
        String,
        graph.SIM_PRIVILEGED_STATE.name,
        lambda m: got.append((json.loads(m.data)["sim_time"], time.monotonic())),
        topic_qos(graph.SIM_PRIVILEGED_STATE),
    )
    from rclpy.executors import SingleThreadedExecutor

    ex = SingleThreadedExecutor(context=ctx)
    ex.add_node(node)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        ex.spin_once(timeout_sec=0.1)
    ex.remove_node(node)
    node.destroy_node()
    rclpy.shutdown(context=ctx)
    if len(got) < 2:
        raise RuntimeError("no /sim/privileged_state received")
    return (got[-1][0] - got[0][0]) / (got[-1][1] - got[0][1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=12.0)
    ap.add_argument("--settle", type=float, default=20.0, help="seconds to let the graph start")
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from hardware.child_process import die_with_parent
    from rstack.dds import use_stack_dds_profile

    use_stack_dds_profile()
    rstack = str(Path(sys.executable).parent / "rstack")
    rows = []
    for name, overrides in CONFIGS.items():
        host = f"127.{random.randint(1, 254)}.{random.randint(0, 255)}.{random.randint(1, 254)}"
        params = {k: {"ros__parameters": dict(v)} for k, v in overrides.items()}
        params.setdefault("sim_world", {"ros__parameters": {}})["ros__parameters"]["host"] = host
        params.setdefault("franka", {"ros__parameters": {}})["ros__parameters"]["robot_ip"] = host
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            yaml.safe_dump(params, f)
        proc = subprocess.Popen(
            [rstack, "up", "--profile", "sim", "--params", f.name],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent(signal.SIGINT),  # no graph left running by a killed benchmark
        )
        try:
            time.sleep(args.settle)
            rtf = measure(args.seconds)
        finally:
            os.killpg(proc.pid, signal.SIGINT)
            proc.wait(30)
            os.unlink(f.name)
        rows.append((name, rtf))
        print(f"{name:40s} RTF {rtf:.3f}", flush=True)
    print("\n| configuration | real-time factor |\n|---|---|")
    for name, rtf in rows:
        print(f"| {name} | {rtf:.3f} |")


if __name__ == "__main__":
    main()
