"""`rstack up --profile sim` end to end: real node processes, seen on the ROS graph from this process."""

from __future__ import annotations

import os
import random
import re
import signal
import sys
import time
from pathlib import Path

import pytest

from tests.helpers.procs import Proc, alive

pytestmark = [pytest.mark.ros, pytest.mark.sim]
RSTACK = str(Path(sys.executable).parent / "rstack")


def _params(tmp_path: Path) -> Path:
    ip = f"127.{random.randint(1, 250)}.{random.randint(1, 250)}.{random.randint(2, 250)}"
    f = tmp_path / "sim.yaml"
    f.write_text(
        f"sim_world:\n  ros__parameters:\n    host: '{ip}'\nfranka:\n  ros__parameters:\n    robot_ip: '{ip}'\n"
    )
    return f


def _pids(up: Proc) -> dict[str, int]:
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"\[rstack up\] started (\w+) \(pid (\d+)", up.output)}


def _wait_graph(node, names: set[str], topics: set[str], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    seen_nodes: set[str] = set()
    seen_topics: set[str] = set()
    while time.monotonic() < deadline:
        seen_nodes = set(node.get_node_names())
        seen_topics = {t for t, _ in node.get_topic_names_and_types()}
        if names <= seen_nodes and topics <= seen_topics:
            return
        time.sleep(0.2)
    raise AssertionError(f"graph incomplete: nodes {seen_nodes}, topics {sorted(seen_topics)}")


def test_up_sim_profile_is_visible_and_stops_cleanly(tmp_path, ros_node):
    up = Proc([RSTACK, "up", "--profile", "sim", "--params", str(_params(tmp_path))])
    try:
        _wait_graph(ros_node, {"sim_world", "franka"}, {"/franka/joint_states", "/camera/external/image_raw"})
        pids = _pids(up)
        assert set(pids) == {"sim_world", "franka"}
        up.wait_for(r"\[franka\] ", timeout=10)  # node output is prefixed with the node name
    finally:
        up.signal(signal.SIGINT)
        code = up.p.wait(timeout=15)
    assert code == 0, up.output
    time.sleep(5.0)
    assert not any(alive(pid) for pid in pids.values()), up.output
    for pid in pids.values():
        with pytest.raises(ProcessLookupError):
            os.killpg(pid, 0)
    up.assert_no_errors()


def test_required_node_crash_brings_the_profile_down(tmp_path, ros_node):
    up = Proc([RSTACK, "up", "--profile", "sim", "--params", str(_params(tmp_path))])
    try:
        _wait_graph(ros_node, {"sim_world", "franka"}, {"/franka/joint_states"})
        pids = _pids(up)
        os.kill(pids["franka"], signal.SIGKILL)
        code = up.p.wait(timeout=20)
    finally:
        up.stop()
    assert code == 3, up.output
    assert re.search(r"required node franka exited with code -9", up.output)
    time.sleep(1.0)
    assert not any(alive(pid) for pid in pids.values()), up.output
