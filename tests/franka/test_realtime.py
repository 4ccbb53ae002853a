"""The control thread's real-time scheduling: a thread started inside `realtime_spawn` inherits SCHED_FIFO."""

from __future__ import annotations

import os
import threading

import pytest

from hardware.franka.realtime import realtime_available, realtime_spawn

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
