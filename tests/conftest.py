"""Test-session setup shared by every test.

Each pytest session gets its own ROS_DOMAIN_ID (and discovery limited to localhost), so parallel runs
on one machine do not cross-talk. Rendering is headless.
"""

from __future__ import annotations

import os
import random

from rstack.dds import use_stack_dds_profile

os.environ.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randint(1, 100)))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("MUJOCO_GL", "osmesa")
os.environ.setdefault("PYOPENGL_PLATFORM", "osmesa")
os.environ.setdefault("RCUTILS_COLORIZED_OUTPUT", "0")
os.environ.setdefault("PYTHONUNBUFFERED", "1")
use_stack_dds_profile()  # the same middleware settings as the nodes under test

pytest_plugins = ["tests.helpers.fixtures"]
