"""The stack's middleware settings: one Fast DDS profile for every process (see fastdds_profile.xml)."""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from pathlib import Path

FASTDDS_PROFILE = Path(__file__).with_name("fastdds_profile.xml")


def use_stack_dds_profile(env: MutableMapping[str, str] = os.environ) -> None:
    """Point Fast DDS at the stack's profile unless the user chose one. Call before rclpy.init()."""
    env.setdefault("FASTRTPS_DEFAULT_PROFILES_FILE", str(FASTDDS_PROFILE))
