"""The rstack CLI: subcommands listed with one line each; bad input refused before anything starts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

RSTACK = str(Path(sys.executable).parent / "rstack")


def _run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([RSTACK, *args], capture_output=True, text=True, timeout=timeout)


def test_help_lists_each_subcommand_with_one_line():
    res = _run("--help")
    assert res.returncode == 0
    lines = res.stdout.splitlines()
    block = lines[lines.index("positional arguments:") + 2 : lines.index("options:") - 1]
    names = [ln.split()[0] for ln in block]
    assert {"up", "doctor", "graph", "demo"} <= set(names), res.stdout
    for ln in block:  # every row is `name  help text`, no wrapped continuation lines
        assert ln.startswith("    ") and not ln.startswith("     ") and len(ln.split()) > 2, res.stdout


@pytest.mark.parametrize(
    ("args", "files", "message"),
    [
        (["--profile", "simm"], {}, "unknown profile 'simm' (known: robot, sim, teleop)"),
        (
            ["--profile", "sim", "--params", "bad.yaml"],
            {"bad.yaml": "franka: [\n"},
            "bad.yaml: not valid YAML at line 2",
        ),
        (
            ["--profile", "sim", "--params", "typed.yaml"],
            {"typed.yaml": "franka:\n  ros__parameters:\n    state_rate_hz: fast\n"},
            "typed.yaml: franka.ros__parameters.state_rate_hz: expected double, got string 'fast'",
        ),
    ],
)
def test_up_refuses_bad_input_with_one_line_and_starts_nothing(tmp_path, args, files, message):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    args = [str(tmp_path / a) if a in files else a for a in args]
    res = _run("up", *args)
    assert res.returncode == 2
    err = res.stderr.strip().splitlines()
    assert len(err) == 1 and message in err[0], res.stderr
    assert "started" not in res.stdout


def test_graph_lists_the_sim_profile():
    res = _run("graph", "--profile", "sim")
    assert res.returncode == 0
    assert "node franka (franka_node)" in res.stdout
    assert "/franka/target_pose" in res.stdout and "geometry_msgs/msg/PoseStamped" in res.stdout


def test_doctor_reports_every_check_here():
    res = _run("doctor", timeout=180)
    names = [ln.split()[1] for ln in res.stdout.splitlines() if ln[:4].strip() in ("ok", "warn", "FAIL")]
    assert names == [
        "python",
        "rclpy",
        "franky",
        "franky-sim",
        "onnxruntime",
        "gpu",
        "realsense",
        "mujoco-gl",
        "disk",
    ]
    assert "RMW rmw_fastrtps_cpp" in res.stdout
    assert "providers: " in res.stdout and "CPUExecutionProvider" in res.stdout
    assert res.returncode == 0, res.stdout
