"""Fixtures of the recorder tests: the publishing stand-in, recorder processes, one recorded session."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from rstack import graph
from tests.helpers.procs import BIN, Proc

from .stack_publisher import StackPublisher

ROOT = Path(__file__).resolve().parents[2]


def start_recorder(tmp: Path, out: Path, stack: StackPublisher | None = None, **params: object) -> Proc:
    """A recorder node process writing to `out`, up and subscribed."""
    tmp.mkdir(parents=True, exist_ok=True)
    params = {"profile": "sim", "output_dir": str(out), "min_free_gb": 0.01, "stop_free_gb": 0.005, **params}
    f = tmp / "recorder.params.yaml"
    f.write_text(yaml.safe_dump({"/**": {"ros__parameters": params}}))
    argv = [str(BIN / "recorder_node"), "--ros-args", "-r", "__node:=recorder", "--params-file", str(f)]
    proc = Proc(argv)
    proc.wait_for(r"recording \d+ topics", timeout=60)
    if stack is not None:
        stack.wait_recorder(str(out.resolve()))
    return proc


@pytest.fixture(scope="session")
def stack() -> Iterator[StackPublisher]:
    pub = StackPublisher("sim")
    yield pub
    pub.close()


@dataclass
class Session:
    """Episodes recorded through ROS, with what was published during each."""

    root: Path
    published: dict[str, Counter] = field(default_factory=dict)
    outcomes: dict[str, str] = field(default_factory=dict)
    log: str = ""


def record(
    stack: StackPublisher, duration_s: float, marker: int, stop: graph.Service, **kw: object
) -> tuple[str, Counter]:
    ok, msg = stack.call(graph.RECORDER_START)
    assert ok, msg
    episode_id = json.loads(msg)["id"]
    counts = stack.publish_for(duration_s, marker, **kw)
    ok, msg = stack.call(stop)
    assert ok, msg
    return episode_id, counts


@pytest.fixture(scope="session")
def session(stack: StackPublisher, tmp_path_factory: pytest.TempPathFactory) -> Session:
    """Three episodes: a success, a success whose wrist camera goes silent, a failure."""
    base = tmp_path_factory.mktemp("session")
    s = Session(base / "episodes")
    proc = start_recorder(base, s.root, stack, task="wipe", operator="tester")
    try:
        stack.publish_sim_episode(seed=7, scenario="nominal")
        plans: list[tuple[float, graph.Service, dict]] = [
            (2.5, graph.RECORDER_STOP_SUCCESS, {}),
            (2.5, graph.RECORDER_STOP_SUCCESS, {"silence": {"/camera/wrist/image_raw": 0.8}}),
            (1.0, graph.RECORDER_STOP_FAILURE, {}),
        ]
        for marker, (duration, stop, kw) in enumerate(plans, start=1):
            eid, counts = record(stack, duration, marker, stop, **kw)
            s.published[eid] = counts
            s.outcomes[eid] = "success" if stop is graph.RECORDER_STOP_SUCCESS else "failure"
    finally:
        code = proc.stop()
    s.log = proc.output
    proc.assert_no_errors()
    assert code == 0, proc.output
    return s
