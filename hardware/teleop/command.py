"""What a teleop device says at one instant."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np


class EpisodeKey(enum.Enum):
    """Episode control from the operator's device, forwarded to the recorder's services."""

    START = "start"
    SUCCESS = "stop_success"
    FAILURE = "stop_failure"
    DISCARD = "discard"


@dataclass
class TeleopCommand:
    """A twist in the base frame (m/s, rad/s), valid until `until_s`; plus one-shot events."""

    linear: np.ndarray = field(default_factory=lambda: np.zeros(3))
    angular: np.ndarray = field(default_factory=lambda: np.zeros(3))
    until_s: float = 0.0
    toggle_gripper: bool = False
    episode: EpisodeKey | None = None
    quit: bool = False

    def moving(self, now_s: float) -> bool:
        return now_s <= self.until_s and bool(np.any(self.linear) or np.any(self.angular))
