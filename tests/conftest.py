"""Test-session setup shared by every test.

Each pytest session gets its own ROS_DOMAIN_ID (and discovery limited to localhost), so parallel runs
on one machine do not cross-talk. Rendering is headless.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator

import pytest

from rstack.dds import use_stack_dds_profile

os.environ.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randint(1, 100)))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("MUJOCO_GL", "osmesa")
os.environ.setdefault("PYOPENGL_PLATFORM", "osmesa")
os.environ.setdefault("RCUTILS_COLORIZED_OUTPUT", "0")
os.environ.setdefault("PYTHONUNBUFFERED", "1")
use_stack_dds_profile()  # the same middleware settings as the nodes under test

pytest_plugins = ["tests.helpers.fixtures"]


_SESSION_SCHEDULING = (os.sched_getscheduler(0), os.sched_getparam(0)) if hasattr(os, "sched_getscheduler") else None


@pytest.fixture(autouse=True)
def _scheduling_is_left_as_found() -> Iterator[None]:
    """No test or fixture may leave the test process real-time. libfranka raises the thread that constructs a
    `franky.Robot` (or runs a synchronous motion) to SCHED_FIFO 99 and never lowers it; every process the
    session starts afterwards would inherit that, and a busy Python loop at FIFO 99 starves the machine."""
    yield
    if _SESSION_SCHEDULING is None:
        return
    now = os.sched_getscheduler(0), os.sched_getparam(0)
    if now != _SESSION_SCHEDULING:
        os.sched_setscheduler(0, *_SESSION_SCHEDULING)
        pytest.fail(f"the test process was left at scheduling {now}, not {_SESSION_SCHEDULING} (restored)")
