"""The benchmarks' machine-load figures: CPU time used outside the benchmark's process tree counts as "others",
CPU time of the benchmark itself and of its children does not."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from machine_load import MachineLoad

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")

SPIN = "import time\nt = time.monotonic()\nwhile time.monotonic() - t < {s}: pass\n"
# Leaves this process's tree at once: the spinning grandchild is re-parented away from us.
DETACHED = "import os, sys\nif os.fork(): sys.exit(0)\nos.setsid()\n" + SPIN


def _spin_here(seconds: float) -> None:
    exec(SPIN.format(s=seconds))


@pytest.mark.parametrize("where", ["this process", "a child", "outside the tree"])
def test_cpu_time_outside_the_tree_is_others(where):
    seconds = 1.5
    load = MachineLoad()
    if where == "this process":
        _spin_here(seconds)
    elif where == "a child":
        subprocess.run([sys.executable, "-c", SPIN.format(s=seconds)], check=True)
    else:
        subprocess.run([sys.executable, "-c", DETACHED.format(s=seconds)], check=True)
        time.sleep(seconds + 0.2)
    share = load.stop()["other_cpu"]
    cpus = os.cpu_count() or 1
    if where == "outside the tree":  # one busy CPU of `cpus` for the whole window, less start-up
        assert share > 0.5 / cpus, share
    else:
        assert share < 0.25 / cpus + 0.05, share
