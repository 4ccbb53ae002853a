"""Child processes die with the process that started them, however it died: no node is left running on after a
killed test run, benchmark or launcher (an orphaned policy node went on answering the next run's touch)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers.procs import alive

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="parent-death signal is Linux-only")

CHILD = "import time; print('up', flush=True); time.sleep(120)"
# Parents that start a long-lived child, say the child's pid, then wait to be killed.
PARENTS = {
    "test helper": """
from tests.helpers.procs import Proc
child = Proc([sys.executable, "-c", CHILD])
child.wait_for("^up$", timeout=20)
print(child.p.pid, flush=True)
""",
    "launcher": """
from rstack.launcher import Launcher, NodeLaunch
launcher = Launcher([NodeLaunch("child", [sys.executable, "-c", CHILD], True, {})], out=sys.stderr)
launcher.start()
print(launcher.launches[0].proc.pid, flush=True)
""",
}


@pytest.mark.parametrize("parent_kind", sorted(PARENTS))
def test_a_child_dies_when_its_parent_is_sigkilled(parent_kind):
    prelude = f"import sys, time\nsys.path.insert(0, {str(REPO)!r})\nCHILD = {CHILD!r}\n"
    code = prelude + PARENTS[parent_kind] + "\ntime.sleep(120)"
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        assert alive(child)
        parent.send_signal(signal.SIGKILL)  # no cleanup code of the parent runs
        parent.wait(timeout=10)
        deadline = time.monotonic() + 10
        while alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(child), f"the {parent_kind}'s child outlived it"
    finally:
        parent.kill()
        parent.wait()
