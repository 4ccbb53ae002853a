"""Franka arm figures against franky-sim: state publish rate and jitter, target-to-motion latency.

    .venv/bin/python bench/bench_franka.py [--seconds 5] [--trials 10]

1. The franka node (real process) publishing /franka/joint_states: rate, inter-arrival median/p99.
2. The driver alone: `poll()` cost (median/p99), and target-to-motion latency: a 1 cm step target is
   sent from rest and timed until the measured TCP moved 0.5 mm, on the wall clock and on the
   robot's (franky-sim) clock, side by side. franky-sim's real-time factor on this machine is
   printed too: on a loaded CPU the sim runs slower than real time, which stretches wall figures.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.helpers (not installed)

from hardware.franka import EnvelopeConfig, PoseTarget
from hardware.franka.driver import DriverConfig, FrankaDriver
from tests.helpers.franky_sim_server import FrankySimServer
from tests.helpers.procs import node_proc


def stats_ms(x: list[float]) -> str:
    a = np.asarray(x) * 1e3
    return f"median {np.median(a):.2f} ms, p99 {np.percentile(a, 99):.2f} ms (n={a.size})"


def bench_node(host: str, seconds: float) -> None:
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor

    from rstack import graph
    from rstack.ros_types import topic_class, topic_qos

    with tempfile.TemporaryDirectory() as tmp:
        p = node_proc("franka_node", {"robot_ip": host, "state_rate_hz": 100.0}, name="franka", tmp=Path(tmp))
        try:
            p.wait_for(r"connected to", timeout=60)
            ctx = Context()
            rclpy.init(context=ctx)
            node = rclpy.create_node("bench_probe", context=ctx)
            arrivals: list[float] = []
            t = graph.FRANKA_JOINT_STATES
            node.create_subscription(topic_class(t), t.name, lambda m: arrivals.append(time.monotonic()), topic_qos(t))
            ex = SingleThreadedExecutor(context=ctx)
            ex.add_node(node)
            end = time.monotonic() + 2.0
            while time.monotonic() < end:  # discovery / warm-up
                ex.spin_once(timeout_sec=0.01)
            arrivals.clear()
            end = time.monotonic() + seconds
            with tqdm(total=seconds, desc="node joint_states", unit="s") as bar:
                while (left := end - time.monotonic()) > 0:
                    ex.spin_once(timeout_sec=0.005)
                    bar.n = round(seconds - left, 1)
                    bar.refresh()
            node.destroy_node()
            rclpy.shutdown(context=ctx)
        finally:
            p.stop()
    dt = np.diff(arrivals)
    print(f"[node] /franka/joint_states (target 100 Hz): {len(arrivals) / seconds:.1f} Hz; interval {stats_ms(dt)}")


def bench_driver(host: str, trials: int) -> None:
    env = EnvelopeConfig(watchdog_timeout_s=1.0)
    d = FrankaDriver(DriverConfig(host, env, dynamics_factor=0.2)).connect()
    polls = []
    s0 = d.poll()
    w0, r0 = time.monotonic(), s0.robot_time_s
    for _ in tqdm(range(300), desc="driver poll"):
        t = time.perf_counter()
        s = d.poll()
        polls.append(time.perf_counter() - t)
    rtf = (s.robot_time_s - r0) / (time.monotonic() - w0)
    print(f"[driver] poll(): {stats_ms(polls)}; franky-sim real-time factor {rtf:.2f}")
    wall, robot = [], []
    sign = 1.0
    for _ in tqdm(range(trials), desc="target-to-motion"):
        d.safe_stop("bench: settle")
        time.sleep(0.5)
        d.reset()
        start = d.poll()
        target = PoseTarget.of(start.position + np.array([0.0, 0.01 * sign, 0.0]), start.quaternion, d.clock())
        t_send, r_send = time.monotonic(), start.robot_time_s
        assert d.send_pose(target).accepted
        while True:
            s = d.poll()
            if np.linalg.norm(s.position - start.position) > 5e-4:
                break
            d.send_pose(PoseTarget.of(target.position, target.quaternion, d.clock()))
        wall.append(time.monotonic() - t_send)
        robot.append(s.robot_time_s - r_send)
        sign = -sign
    print(f"[driver] target-to-motion (0.5 mm moved), wall clock:  {stats_ms(wall)}")
    print(f"[driver] target-to-motion (0.5 mm moved), robot clock: {stats_ms(robot)}")
    print(f"[driver] ratio wall/robot (sim slowdown share): {np.median(wall) / max(np.median(robot), 1e-9):.2f}")
    d.close()


def bench_replan(host: str, periods: list[float], seconds: float = 4.0, rate_hz: float = 60.0) -> None:
    """Tracking error on franky-sim when a target 5 cm below is streamed at `rate_hz`, per re-plan period."""
    env = EnvelopeConfig(watchdog_timeout_s=1.0, max_step_m=0.2)
    for period in periods:
        d = FrankaDriver(DriverConfig(host, env, dynamics_factor=0.15, min_replan_period_s=period)).connect()
        start = d.poll()
        goal = start.position + np.array([0.0, 0.0, -0.05])
        errs = []
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds:
            d.send_pose(PoseTarget.of(goal + np.array([0.0, 0.0, 1e-4 * np.sin(40 * (time.monotonic() - t0))]),
                                      start.quaternion, d.clock()))  # fmt: skip
            s = d.poll()
            if time.monotonic() - t0 > seconds / 2:
                errs.append(float(np.linalg.norm(s.position - goal)))
            time.sleep(1.0 / rate_hz)
        print(
            f"[replan] min_replan_period_s={period:.2f}: streamed at {rate_hz:.0f} Hz, tracking error over the "
            f"last {seconds / 2:.0f} s median {np.median(errs) * 1e3:.1f} mm, max {np.max(errs) * 1e3:.1f} mm"
        )
        d.safe_stop("bench")
        d.reset()
        d.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--replan", action="store_true", help="only compare re-plan periods on franky-sim")
    a = ap.parse_args()
    if a.replan:
        for period in (0.0, 0.05, 0.15):
            with FrankySimServer() as sim:
                bench_replan(sim.host, [period])
        return
    with FrankySimServer() as sim:
        bench_driver(sim.host, a.trials)
    with FrankySimServer() as sim:
        bench_node(sim.host, a.seconds)


if __name__ == "__main__":
    main()
