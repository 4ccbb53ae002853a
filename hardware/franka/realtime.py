"""Real-time scheduling for libfranka's control thread (ROS-free).

franky runs each asynchronous motion's 1 kHz libfranka loop on a thread it starts itself. Without an RT
kernel (`RealtimeConfig.Ignore`) that thread stays a normal time-shared one, so on a loaded machine it can sit
out 50-100 ms while the robot waits for commands; franky then extrapolates the missed steps with constant
acceleration and the next command jumps. A thread started by a SCHED_FIFO thread inherits its policy (pthread's
default), so the caller raises itself to SCHED_FIFO for the `move` call that may start the control thread, and
drops back as soon as it returns: only the control thread stays real-time.
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
