"""`rstack demo` (the main job of `make demo`) brings the sim graph up, reports live rates, stops cleanly."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.franky_sim_server import random_loopback_host

pytestmark = [pytest.mark.ros, pytest.mark.sim]


def test_demo_reports_live_topic_rates_and_exits_cleanly():
    res = subprocess.run(
        [
            str(Path(sys.executable).parent / "rstack"),
            "demo",
            "--watch",
            "--duration",
            "3",
            "--host",
            random_loopback_host(),
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    out = res.stdout
    assert res.returncode == 0, out + res.stderr
    rates = {m.group(1): float(m.group(2)) for m in re.finditer(r"^\s+(/\S+)\s+([\d.]+) Hz$", out, re.M)}
    assert rates["/franka/joint_states"] > 10, rates
    assert rates["/camera/external/image_raw"] > 0 and rates["/tactile/tool/embedding"] > 0, rates
    assert "launcher exit code 0" in out
