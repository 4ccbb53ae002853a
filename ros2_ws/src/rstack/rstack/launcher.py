"""`rstack up`: start every node of a profile in its own process and bring them all down together.

- Each node runs as `<executable> --ros-args -r __node:=<name> --params-file <file>` in its own process
  group (so a grandchild process goes down with it) and dies with the launcher (PR_SET_PDEATHSIG) even if
  the launcher itself is SIGKILLed.
- Every line a node prints is prefixed with `[<node name>]`.
- On SIGINT/SIGTERM, at the end of `--duration`, or when a node marked required exits, every node gets
  SIGINT, then SIGTERM, then SIGKILL, all within `stop_timeout_s` (8 s): no orphan is left.
- Exit codes: 0 stopped as asked; 2 bad input (nothing started); 3 a required node died; 4 a node had to
  be killed (did not stop on SIGINT/SIGTERM in time).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from hardware.child_process import die_with_parent
from rstack import graph, params
from rstack.dds import use_stack_dds_profile

EXIT_OK, EXIT_USAGE, EXIT_REQUIRED_DIED, EXIT_KILLED = 0, 2, 3, 4


class LaunchError(RuntimeError):
    """Bad input for a launch (unknown profile, bad params, missing executable): nothing was started."""


@dataclass
class NodeLaunch:
    """One node process to start."""

    name: str
    argv: list[str]
    required: bool
    params: dict
    needs_terminal: bool = False
    proc: subprocess.Popen | None = None
    reader: threading.Thread | None = None
    exit_code: int | None = None
    killed: bool = False
    _stop_signal_sent: list[int] = field(default_factory=list)


def find_executable(name: str) -> str:
    """A node executable: next to this Python (venv), on PATH, or in a colcon install's lib/rstack."""
    candidates = [Path(sys.executable).parent / name]
    which = shutil.which(name)
    if which:
        candidates.append(Path(which))
    for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
        if prefix:
            candidates.append(Path(prefix) / "lib" / "rstack" / name)
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return str(c)
    raise LaunchError(f"node executable {name!r} not found (looked in {', '.join(str(c.parent) for c in candidates)})")


def plan(profile_name: str, params_file: str | None, workdir: Path) -> tuple[graph.Profile, list[NodeLaunch]]:
    """Validate the profile and the parameter overrides, write one params file per node into `workdir`."""
    try:
        prof = graph.profile(profile_name)
        overrides = params.load_overrides(params_file) if params_file else {}
        resolved = params.resolve(prof, overrides, source=str(params_file or "params"))
    except ValueError as exc:
        raise LaunchError(str(exc)) from None
    return prof, [node_launch(inst, resolved[inst.name], workdir) for inst in prof.nodes]


def node_launch(inst: graph.NodeInstance, node_params: dict, workdir: Path) -> NodeLaunch:
    """The process of one node: its executable, name and a params file written into `workdir`."""
    exe = find_executable(inst.kind.executable)
    pfile = workdir / f"{inst.name}.params.yaml"
    pfile.write_text(params.params_file_text(inst.name, node_params))
    argv = [exe, "--ros-args", "-r", f"__node:={inst.name}", "--params-file", str(pfile)]
    return NodeLaunch(inst.name, argv, inst.required, node_params, inst.kind.needs_terminal)


class Launcher:
    """Runs a list of node processes as one unit."""

    def __init__(self, launches: list[NodeLaunch], out: IO[str] | None = None, stop_timeout_s: float = 8.0) -> None:
        self.launches = launches
        self.out = out or sys.stdout
        self.stop_timeout_s = stop_timeout_s
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._stop_reason = ""

    def say(self, text: str) -> None:
        with self._lock:
            self.out.write(f"[rstack up] {text}\n")
            self.out.flush()

    def _pump(self, launch: NodeLaunch) -> None:
        assert launch.proc is not None and launch.proc.stdout is not None
        for line in launch.proc.stdout:
            with self._lock:
                self.out.write(f"[{launch.name}] {line.rstrip()}\n")
                self.out.flush()

    def request_stop(self, reason: str) -> None:
        if not self._stop.is_set():
            self._stop_reason = reason
            self._stop.set()

    def start(self) -> None:
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "RCUTILS_COLORIZED_OUTPUT": os.environ.get("RCUTILS_COLORIZED_OUTPUT", "0"),
        }
        use_stack_dds_profile(env)
        for launch in self.launches:
            launch.proc = subprocess.Popen(
                launch.argv,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                # A node that reads keys gets the launcher's terminal; being in its own session, it reads
                # it without job-control stops. Every other node gets no stdin.
                stdin=None if launch.needs_terminal else subprocess.DEVNULL,
                text=True,
                bufsize=1,
                env=env,
                start_new_session=True,
                preexec_fn=die_with_parent(signal.SIGTERM),
            )
            launch.reader = threading.Thread(target=self._pump, args=(launch,), daemon=True)
            launch.reader.start()
            self.say(f"started {launch.name} (pid {launch.proc.pid}{', required' if launch.required else ''})")

    def run(self, duration_s: float | None = None, install_signal_handlers: bool = True) -> int:
        """Start, supervise, stop. Returns the exit code (see module docstring)."""
        if install_signal_handlers:
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda s, _f: self.request_stop(f"received {signal.Signals(s).name}"))
        self.start()
        required_died = False
        deadline = time.monotonic() + duration_s if duration_s else None
        while not self._stop.is_set():
            for launch in self.launches:
                if launch.exit_code is None and launch.proc is not None and launch.proc.poll() is not None:
                    launch.exit_code = launch.proc.returncode
                    if launch.required:
                        required_died = True
                        self.say(f"required node {launch.name} exited with code {launch.exit_code}: stopping all")
                        self.request_stop(f"required node {launch.name} died")
                    else:
                        self.say(f"node {launch.name} exited with code {launch.exit_code}")
            if all(launch.exit_code is not None for launch in self.launches):
                self.request_stop("all nodes exited")
            if deadline is not None and time.monotonic() >= deadline:
                self.request_stop(f"duration of {duration_s:g} s elapsed")
            self._stop.wait(0.05)
        self.say(f"stopping: {self._stop_reason}")
        killed = self.stop_all()
        if required_died:
            return EXIT_REQUIRED_DIED
        return EXIT_KILLED if killed else EXIT_OK

    def stop_all(self) -> bool:
        """SIGINT, SIGTERM, then SIGKILL to each live process group within stop_timeout_s; True if any was killed."""
        t0 = time.monotonic()
        steps = ((signal.SIGINT, 0.0), (signal.SIGTERM, 0.6), (signal.SIGKILL, 0.9))
        killed_any = False
        for sig, at in steps:
            while time.monotonic() < t0 + at * self.stop_timeout_s:
                if all(self._group_gone(launch) for launch in self.launches):
                    break
                time.sleep(0.02)
            for launch in self.launches:
                if not self._group_gone(launch):
                    if sig == signal.SIGKILL:
                        launch.killed = killed_any = True
                        self.say(f"{launch.name} did not stop in time: SIGKILL")
                    self._signal_group(launch, sig)
        for launch in self.launches:
            if launch.proc is not None:
                try:
                    launch.proc.wait(timeout=max(0.1, t0 + self.stop_timeout_s - time.monotonic()))
                except subprocess.TimeoutExpired:
                    self._signal_group(launch, signal.SIGKILL)
                    launch.proc.wait()
                if launch.exit_code is None:
                    launch.exit_code = launch.proc.returncode
            if launch.reader is not None:
                launch.reader.join(timeout=1.0)
        self.say(f"all nodes stopped in {time.monotonic() - t0:.2f} s")
        return killed_any

    @staticmethod
    def _group_gone(launch: NodeLaunch) -> bool:
        if launch.proc is None:
            return True
        launch.proc.poll()
        try:
            os.killpg(launch.proc.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        # Only zombies left (e.g. an orphaned grandchild not yet reaped) counts as gone.
        return not _group_has_live_members(launch.proc.pid)

    @staticmethod
    def _signal_group(launch: NodeLaunch, sig: int) -> None:
        if launch.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(launch.proc.pid, sig)


def _group_has_live_members(pgid: int) -> bool:
    """Whether any non-zombie process is in process group `pgid` (reads /proc)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def up(
    profile_name: str,
    params_file: str | None = None,
    duration_s: float | None = None,
    out: IO[str] | None = None,
) -> int:
    """`rstack up`: plan (refusing bad input before anything starts), then run the profile."""
    out = out or sys.stdout
    with tempfile.TemporaryDirectory(prefix="rstack-up-") as tmp:
        try:
            prof, launches = plan(profile_name, params_file, Path(tmp))
        except LaunchError as exc:
            print(f"rstack up: error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        launcher = Launcher(launches, out=out)
        launcher.say(f"profile {prof.name}: {len(launches)} nodes: {', '.join(launch.name for launch in launches)}")
        return launcher.run(duration_s=duration_s)
