"""Run stack processes (nodes, `rstack up`) from tests and check what they logged.

Node-level tests fail on any `[ERROR]`/`[FATAL]` line a node logged unless the test expects it.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from hardware.child_process import die_with_parent

BIN = Path(sys.executable).parent
ERROR_LINE = re.compile(r"\[(ERROR|FATAL)\]")


def alive(pid: int) -> bool:
    """Whether process `pid` runs (a zombie, exited but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (ProcessLookupError, FileNotFoundError):
        return False


class Proc:
    """A child process (own process group) whose combined output is collected line by line."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None, cwd: str | None = None) -> None:
        self.argv = argv
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self.p = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            bufsize=1,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            start_new_session=True,
            preexec_fn=die_with_parent(signal.SIGINT),  # no node left running by a killed test or bench
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.p.stdout is not None
        for line in self.p.stdout:
            with self._lock:
                self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        with self._lock:
            return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = 30.0) -> re.Match:
        """Wait until a line matches `pattern` (regex); fail with the output so far."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            exited = self.p.poll() is not None
            if exited:  # the last lines may still be in the pipe: let the reader take them before the last look
                self._reader.join(timeout=1)
            with self._lock:
                for line in self.lines:
                    m = rx.search(line)
                    if m:
                        return m
            if exited:
                break
            time.sleep(0.05)
        raise AssertionError(f"no line matching {pattern!r} within {timeout}s from {self.argv}:\n{self.output}")

    def signal(self, sig: int = signal.SIGINT) -> None:
        if self.p.poll() is None:
            os.kill(self.p.pid, sig)

    def stop(self, timeout: float = 10.0) -> int:
        """SIGINT, then SIGKILL the whole group after `timeout`; returns the exit code."""
        if self.p.poll() is None:
            self.signal(signal.SIGINT)
            try:
                self.p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait()
        self._reader.join(timeout=2)
        return self.p.returncode

    def error_lines(self, allowed: Iterable[str] = ()) -> list[str]:
        allowed_rx = [re.compile(a) for a in allowed]
        with self._lock:
            return [ln for ln in self.lines if ERROR_LINE.search(ln) and not any(a.search(ln) for a in allowed_rx)]

    def assert_no_errors(self, allowed: Iterable[str] = ()) -> None:
        bad = self.error_lines(allowed)
        assert not bad, "process logged errors:\n" + "\n".join(bad)

    def __enter__(self) -> Proc:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def node_proc(executable: str, params: dict | None = None, name: str | None = None, tmp: Path | None = None) -> Proc:
    """Start a stack node executable with ROS parameters (written to a params file in `tmp`)."""
    argv = [str(BIN / executable), "--ros-args"]
    if name:
        argv += ["-r", f"__node:={name}"]
    if params:
        import yaml

        assert tmp is not None, "params need a tmp dir"
        f = tmp / f"{name or executable}.params.yaml"
        f.write_text(yaml.safe_dump({"/**": {"ros__parameters": params}}))
        argv += ["--params-file", str(f)]
    return Proc(argv)
