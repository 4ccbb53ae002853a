"""The arm's contact force limit against the MuJoCo world: a target stream that presses 6 cm into the table.

At the pad's 800 N/m that target is ~48 N deep, past the arm's hard stop (40 N) and the task's limit (30 N).
With the limit on, the driver pulls each target back to the measured contact and the arm eases off near the
limit, still in service; with it off, the same stream ends in a safe stop.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace

import numpy as np
import pytest

from hardware.franka import EnvelopeConfig, PoseTarget
from hardware.franka.driver import DriverConfig, FrankaDriver, Mode
from tests.helpers.franky_sim_server import REPO
from tests.sim.helpers import random_loopback

pytestmark = [pytest.mark.sim]

RATE_HZ = 30.0


# The world in a child process, one per test (its franky-sim server serves one client per run).
_WORLD = """
import json, sys
from hardware.sim.world import SimWorld, WorldConfig
w = SimWorld(WorldConfig(host=sys.argv[1], seed=3, camera_rate_hz=0.0))
w.start()
print(json.dumps({"contact_z": w.params.table_top_z + w.config.tool.tool_length_m,
                  "xy": list(w.config.spec.table_center_xy)}), flush=True)
sys.stdin.read()
w.stop()
"""


@pytest.fixture
def world() -> Iterator[dict]:
    host = random_loopback()
    proc = subprocess.Popen(
        [sys.executable, "-c", _WORLD, host], cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the sim world did not start (exit {proc.wait(10)})")
        yield {"host": host, **json.loads(line)}
    finally:
        proc.stdin.close()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


def _go(d: FrankaDriver, goal: np.ndarray, speed: float, press_s: float = 0.0, timeout_s: float = 240.0) -> list:
    """Stream a target towards `goal` at `speed`, paced in robot time (the sim may run slower than the wall clock),
    until the TCP is within 3 mm of it, or for `press_s` of robot time after the arm first pressed with 10 N, or
    until the arm stops; the polled states."""
    s = d.poll()
    q, target, last_send, pressed_at = s.quaternion, s.position.copy(), -np.inf, None
    states = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and d.mode not in (Mode.STOPPED, Mode.ERROR):
        s = d.poll()
        states.append(s)
        if np.linalg.norm(goal - s.position) < 0.003:
            break
        if pressed_at is None and -s.wrench[2] > 10.0:
            pressed_at = s.robot_time_s
        if pressed_at is not None and s.robot_time_s - pressed_at > press_s:
            break
        if s.robot_time_s - last_send >= 1.0 / RATE_HZ:
            last_send = s.robot_time_s
            step = goal - target
            target = target + step * min(1.0, speed / RATE_HZ / max(float(np.linalg.norm(step)), 1e-9))
            d.send_pose(PoseTarget.of(target, q, d.clock()))
        time.sleep(0.003)
    return states


@pytest.mark.parametrize("limit_n", [20.0, 0.0], ids=["limit_on", "limit_off"])
def test_a_target_deep_in_the_table_is_held_at_the_contact_force_limit(world: dict, limit_n: float) -> None:
    env = EnvelopeConfig(max_speed_mps=0.2, max_force_n=40.0, contact_force_limit_n=limit_n, watchdog_timeout_s=0.5)
    cfg = DriverConfig(world["host"], env, connect_timeout_s=30.0, dynamics_factor=0.15, min_replan_period_s=0.15)
    d = FrankaDriver(replace(cfg, use_gripper=False)).connect()
    try:
        (x, y), contact_z = world["xy"], world["contact_z"]
        _go(d, np.array([x, y, contact_z + 0.02]), 0.08)
        states = _go(d, np.array([x, y, contact_z - 0.06]), 0.03, press_s=1.5)
        pressing = [max(0.0, -st.wrench[2]) for st in states]
        peak = int(np.argmax(pressing)) if pressing else 0
        window = states[max(0, peak - 150) : peak + 30]  # the states around the hardest press, for a failure
        trace = "\n".join(
            f"t {st.robot_time_s:.3f} s  press {max(0.0, -st.wrench[2]):5.1f} N"
            f"  z {1e3 * (st.position[2] - contact_z):+.1f} mm"
            for st in window[::3]
        )
        if limit_n > 0:
            assert d.mode == Mode.FOLLOWING, (d.status(), trace)
            assert d.contact_limited > 0, trace
            assert max(pressing) < 30.0, (max(pressing), trace)  # the task's hard limit, and well under the arm's stop
            late = [
                p for st, p in zip(states, pressing, strict=True) if st.robot_time_s > states[-1].robot_time_s - 0.5
            ]
            assert 0.6 * limit_n < np.median(late) < 1.3 * limit_n, late[::10]
        else:
            assert d.mode == Mode.STOPPED and "force" in d.status()["reason"], d.status()
            assert d.contact_limited == 0
    finally:
        d.close()
