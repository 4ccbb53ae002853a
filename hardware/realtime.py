"""Real-time (SCHED_FIFO) scheduling for the threads that must not wait behind bulk work (ROS-free).

Two users:
- libfranka's control thread. franky runs each asynchronous motion's 1 kHz loop on a thread it starts
  itself. Without an RT kernel (`RealtimeConfig.Ignore`) that thread stays time-shared, so on a loaded
  machine it can sit out 50-100 ms while the robot waits for commands; franky then extrapolates the missed
  steps with constant acceleration and the next command jumps. A thread started by a SCHED_FIFO thread
  inherits its policy (pthread's default), so the arm driver raises itself only around the `move` call that
  may start the control thread (`realtime_spawn`).
- The policy's fast path (touch in -> target out). The policy node makes all its threads real-time once rclpy
  and DDS have started theirs (`make_threads_realtime`: DDS's receive threads, the executor), before it starts
  the fast head, which inherits it; bulk work (the planner thread or process) drops back first
  (`drop_realtime`), and the thread that only waits on a planner process steps one priority below
  (`step_below_realtime`). The whole process, not one thread: a time-shared thread holding the GIL would stall
  the real-time ones behind it.

Priorities: the arm's control thread 80 > the policy's fast path 40 > everything else (time-shared).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager


def realtime_available(priority: int) -> bool:
    """Whether this process may schedule a thread SCHED_FIFO at `priority` (root, CAP_SYS_NICE or RLIMIT_RTPRIO)."""
    with realtime_spawn(priority) as granted:
        return granted


@contextmanager
def realtime_spawn(priority: int) -> Iterator[bool]:
    """Threads started inside run SCHED_FIFO at `priority`; the calling thread gets its own policy back on exit.

    Yields whether SCHED_FIFO was granted (0 or a platform without it: not asked, False).
    """
    if priority <= 0 or not hasattr(os, "sched_setscheduler"):
        yield False
        return
    with scheduling_restored():
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
        except OSError:  # PermissionError included: not root, no CAP_SYS_NICE, no rtprio limit
            yield False
            return
        yield True


def make_threads_realtime(priority: int) -> str:
    """Make every thread this process has now SCHED_FIFO at `priority` (Linux: each is a task in /proc/self/task).

    For a node process once rclpy and DDS have started their threads: threads started afterwards by a real-time
    thread inherit it, bulk work drops it (`drop_realtime`). Returns a line for the log (never raises).
    """
    if priority <= 0:
        return "time-shared (real-time priority 0: off)"
    if not hasattr(os, "sched_setscheduler") or not os.path.isdir("/proc/self/task"):
        return "time-shared (no per-thread SCHED_FIFO on this platform)"
    raised = 0
    for tid in sorted(int(t) for t in os.listdir("/proc/self/task")):
        try:
            os.sched_setscheduler(tid, os.SCHED_FIFO, os.sched_param(priority))
            raised += 1
        except ProcessLookupError:  # the thread ended meanwhile
            continue
        except OSError as exc:
            why = f"{exc.strerror}; needs root, CAP_SYS_NICE or an rtprio limit"
            return f"time-shared: SCHED_FIFO {priority} refused ({why})"
    return f"SCHED_FIFO {priority} ({raised} threads)"


def drop_realtime() -> None:
    """Make the calling thread time-shared (SCHED_OTHER) again, e.g. a planner started by a real-time thread."""
    if hasattr(os, "sched_getscheduler") and os.sched_getscheduler(0) != os.SCHED_OTHER:
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))


def step_below_realtime() -> None:
    """A SCHED_FIFO thread at priority p moves to p - 1 (at p = 1: time-shared): for light coordination work in a
    real-time process, e.g. the thread that waits on a planner process. It holds the GIL in short bursts, so it
    must not be descheduled while holding it (a time-shared thread is, behind bulk work, for a whole time slice,
    and every real-time thread of the process then waits for the GIL), yet the fast path preempts it."""
    if not hasattr(os, "sched_getscheduler") or os.sched_getscheduler(0) != os.SCHED_FIFO:
        return
    p = os.sched_getparam(0).sched_priority
    if p <= 1:
        drop_realtime()
    else:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(p - 1))


def current_scheduling() -> str:
    """The calling thread's policy and priority, e.g. 'SCHED_FIFO 40' or 'SCHED_OTHER'."""
    if not hasattr(os, "sched_getscheduler"):
        return "unknown"
    policy = os.sched_getscheduler(0)
    if policy == os.SCHED_FIFO:
        return f"SCHED_FIFO {os.sched_getparam(0).sched_priority}"
    if policy == os.SCHED_RR:
        return f"SCHED_RR {os.sched_getparam(0).sched_priority}"
    return "SCHED_OTHER"


@contextmanager
def scheduling_restored() -> Iterator[None]:
    """Give the calling thread its scheduling policy back on exit. libfranka raises the thread that constructs a
    `franky.Robot` or runs a synchronous motion to SCHED_FIFO 99 and leaves it there."""
    if not hasattr(os, "sched_getscheduler"):
        yield
        return
    policy, param = os.sched_getscheduler(0), os.sched_getparam(0)
    try:
        yield
    finally:
        if (os.sched_getscheduler(0), os.sched_getparam(0)) != (policy, param):
            os.sched_setscheduler(0, policy, param)
