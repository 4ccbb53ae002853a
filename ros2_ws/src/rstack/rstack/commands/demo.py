"""`rstack demo`: the main job on its bundled default.

Brings up the sim profile through the launcher (franky-sim + MuJoCo world + arm node behind the robot's
topics), watches the graph from a separate rclpy node, prints what every topic delivers, then stops the
profile and checks that everything came down.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the sim-in-the-loop demo on its bundled default")
    p.add_argument("--duration", type=float, default=10.0, help="seconds to watch the running graph")
    p.add_argument("--startup-timeout", type=float, default=90.0, help="seconds to wait for the arm state")
    p.add_argument("--host", default="127.0.0.1", help="loopback address the sim's libfranka server binds")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor

    from rstack import graph
    from rstack.dds import use_stack_dds_profile
    from rstack.ros_types import topic_class, topic_qos

    os.environ.setdefault("MUJOCO_GL", "osmesa")
    prof = graph.profile("sim")
    params = tempfile.NamedTemporaryFile("w", suffix=".yaml", prefix="rstack-demo-", delete=False)  # noqa: SIM115 - removed in finally
    with params:
        params.write(
            f"sim_world:\n  ros__parameters:\n    host: '{args.host}'\n"
            f"franka:\n  ros__parameters:\n    robot_ip: '{args.host}'\n"
        )
    up = subprocess.Popen(
        [sys.executable, "-m", "rstack.cli", "up", "--profile", "sim", "--params", params.name],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    log: list[str] = []

    def pump() -> None:
        assert up.stdout is not None
        for line in up.stdout:
            log.append(line.rstrip())
            print(line, end="", flush=True)

    threading.Thread(target=pump, daemon=True).start()

    use_stack_dds_profile()
    ctx = Context()
    rclpy.init(context=ctx)
    node = rclpy.create_node("rstack_demo_probe", context=ctx)
    executor = SingleThreadedExecutor(context=ctx)
    executor.add_node(node)
    counts: dict[str, int] = {}
    for t in graph.TOPICS:
        for name in graph.expand(t, prof):
            if name in prof.topic_names() and t.msg_type != graph.DIAGNOSTICS.msg_type:
                counts[name] = 0
                node.create_subscription(
                    topic_class(t),
                    name,
                    lambda _m, n=name: counts.__setitem__(n, counts[n] + 1),
                    topic_qos(t),
                )
    code = 0
    try:
        deadline = time.monotonic() + args.startup_timeout
        while counts.get(graph.FRANKA_JOINT_STATES.name, 0) == 0 and time.monotonic() < deadline:
            if up.poll() is not None:
                print(f"demo: the sim profile exited early (code {up.returncode})", file=sys.stderr)
                return 1
            executor.spin_once(timeout_sec=0.1)
        if counts.get(graph.FRANKA_JOINT_STATES.name, 0) == 0:
            print(
                f"demo: no {graph.FRANKA_JOINT_STATES.name} within {args.startup_timeout:.0f} s",
                file=sys.stderr,
            )
            code = 1
        else:
            for k in counts:
                counts[k] = 0
            t0 = time.monotonic()
            while time.monotonic() - t0 < args.duration:
                executor.spin_once(timeout_sec=0.05)
            span = time.monotonic() - t0
            print(f"\ndemo: topic rates over {span:.1f} s")
            for name, n in sorted(counts.items()):
                print(f"  {name:42s} {n / span:7.1f} Hz")
    finally:
        executor.remove_node(node)
        node.destroy_node()
        rclpy.shutdown(context=ctx)
        if up.poll() is None:
            up.send_signal(signal.SIGINT)
        try:
            rc = up.wait(timeout=10)
        except subprocess.TimeoutExpired:
            up.kill()
            rc = up.wait()
        print(f"demo: sim profile stopped (launcher exit code {rc})")
        os.unlink(params.name)
    return code or (0 if rc == 0 else 1)
