"""Real-time scheduling: threads started by a SCHED_FIFO thread inherit it; bulk work drops it again; a waiting
thread steps one priority below."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import pytest

from hardware.realtime import (
    current_scheduling,
    make_threads_realtime,
    realtime_available,
    realtime_spawn,
)
from tests.helpers.franky_sim_server import REPO

pytestmark = pytest.mark.skipif(not hasattr(os, "sched_setscheduler"), reason="no POSIX scheduling API")


def _started_thread_policy() -> tuple[int, int]:
    seen: list[tuple[int, int]] = []
    t = threading.Thread(target=lambda: seen.append((os.sched_getscheduler(0), os.sched_getparam(0).sched_priority)))
    t.start()
    t.join()
    return seen[0]


def test_a_thread_started_inside_runs_fifo_and_the_caller_gets_its_own_policy_back() -> None:
    before = (os.sched_getscheduler(0), os.sched_getparam(0).sched_priority)
    with realtime_spawn(10) as granted:
        child = _started_thread_policy()
    assert (os.sched_getscheduler(0), os.sched_getparam(0).sched_priority) == before
    if granted:
        assert child == (os.SCHED_FIFO, 10)
    else:  # not permitted here: nothing changed, and it says so
        assert child == before and not realtime_available(10)
    assert _started_thread_policy() == before  # threads started afterwards are time-shared again


def test_priority_zero_asks_for_nothing() -> None:
    with realtime_spawn(0) as granted:
        child = _started_thread_policy()
    assert not granted and child[0] == os.sched_getscheduler(0)


_THREADS = """
import json, os, threading, time
from hardware.realtime import current_scheduling, drop_realtime, make_threads_realtime, step_below_realtime

def policy_of(tid):
    return os.sched_getscheduler(tid), os.sched_getparam(tid).sched_priority

idle = threading.Event()
ready = []
t = threading.Thread(target=lambda: (ready.append(threading.get_native_id()), idle.wait()), daemon=True)
t.start()
while not ready:
    time.sleep(0.001)
line = make_threads_realtime(20)
started = []
def bulk():
    started.append(current_scheduling())
    drop_realtime()
    started.append(current_scheduling())
def waiter():
    step_below_realtime()
    started.append(current_scheduling())
for fn in (bulk, waiter):
    b = threading.Thread(target=fn)
    b.start()
    b.join()
print(json.dumps({"line": line, "main": current_scheduling(), "other": policy_of(ready[0]), "started": started}))
"""


def test_make_threads_realtime_raises_every_thread_and_bulk_work_drops_it() -> None:
    # In a child: it changes the whole process, and this one must keep its scheduling.
    out = subprocess.run([sys.executable, "-c", _THREADS], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    if r["line"].startswith("SCHED_FIFO 20"):
        assert r["main"] == "SCHED_FIFO 20" and r["other"] == [os.SCHED_FIFO, 20]  # a thread already running too
        # A new thread inherits; bulk work drops it; a thread that only waits on other work steps one below.
        assert r["started"] == ["SCHED_FIFO 20", "SCHED_OTHER", "SCHED_FIFO 19"]
    else:  # refused: it says why, and nothing changed
        assert "refused" in r["line"] and r["main"] == "SCHED_OTHER" and r["started"][0] == "SCHED_OTHER"


def test_priority_zero_makes_nothing_realtime() -> None:
    assert make_threads_realtime(0).startswith("time-shared") and current_scheduling() == "SCHED_OTHER"
