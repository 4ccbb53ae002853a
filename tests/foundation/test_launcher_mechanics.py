"""The launcher's process handling, on plain child processes: prefixing, escalation, no orphans."""

from __future__ import annotations

import io
import sys
import time

from rstack.launcher import EXIT_KILLED, EXIT_OK, EXIT_REQUIRED_DIED, Launcher, NodeLaunch
from tests.helpers.procs import alive

SLEEPER = "import time\nprint('up', flush=True)\nwhile True: time.sleep(0.1)"
STUBBORN = (
    "import signal, time\n"
    "signal.signal(signal.SIGINT, signal.SIG_IGN); signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "print('stubborn up', flush=True)\n"
    "while True: time.sleep(0.1)"
)
WITH_GRANDCHILD = (
    "import subprocess, sys, time\n"
    "code = 'import time, signal; signal.signal(signal.SIGINT, signal.SIG_IGN); time.sleep(600)'\n"
    "c = subprocess.Popen([sys.executable, '-c', code])\n"
    "print('grandchild', c.pid, flush=True)\n"
    "while True: time.sleep(0.1)"
)
CRASHER = "import time, sys\nprint('crashing soon', flush=True)\ntime.sleep(1.0)\nsys.exit(7)"


def _launch(name: str, code: str, required: bool = True) -> NodeLaunch:
    return NodeLaunch(name, [sys.executable, "-c", code], required, {})


def test_duration_stop_prefixes_lines_and_leaves_nothing():
    out = io.StringIO()
    launcher = Launcher([_launch("a", SLEEPER), _launch("b", WITH_GRANDCHILD)], out=out)
    code = launcher.run(duration_s=2.0, install_signal_handlers=False)
    text = out.getvalue()
    assert code == EXIT_OK, text
    assert "[a] up" in text
    grandchild = int(next(line for line in text.splitlines() if line.startswith("[b] grandchild")).split()[2])
    # The grandchild ignored SIGINT; it went down with its node's process group.
    assert not alive(grandchild), text
    assert all(not alive(launch.proc.pid) for launch in launcher.launches)


def test_stubborn_node_is_killed_within_the_stop_timeout():
    out = io.StringIO()
    launcher = Launcher([_launch("stubborn", STUBBORN)], out=out, stop_timeout_s=2.0)
    t0 = time.monotonic()
    code = launcher.run(duration_s=1.5, install_signal_handlers=False)
    stop_time = time.monotonic() - t0 - 1.5
    assert code == EXIT_KILLED, out.getvalue()
    assert "stubborn did not stop in time: SIGKILL" in out.getvalue()
    assert stop_time < 2.0 + 1.0
    assert not alive(launcher.launches[0].proc.pid)


def test_required_node_death_brings_the_rest_down():
    out = io.StringIO()
    launcher = Launcher([_launch("crasher", CRASHER), _launch("other", SLEEPER)], out=out)
    code = launcher.run(duration_s=60, install_signal_handlers=False)
    assert code == EXIT_REQUIRED_DIED, out.getvalue()
    assert "required node crasher exited with code 7" in out.getvalue()
    assert not alive(launcher.launches[1].proc.pid)


def test_optional_node_death_does_not_stop_the_profile():
    out = io.StringIO()
    launcher = Launcher([_launch("crasher", CRASHER, required=False), _launch("other", SLEEPER)], out=out)
    code = launcher.run(duration_s=2.5, install_signal_handlers=False)
    assert code == EXIT_OK
    assert "node crasher exited with code 7" in out.getvalue()
    assert "duration of 2.5 s elapsed" in out.getvalue()
