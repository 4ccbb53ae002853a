"""Picklable image feeds for the planner process (ROS-free): frames at given stamps, pushed at start."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np


def fixed_frames(
    cameras: Sequence[str], stamps: Sequence[float], push: Callable[[str, float, np.ndarray], None]
) -> Callable[[], None]:
    """Push one grey 240x320 frame per camera at each stamp, then nothing more."""
    for t in stamps:
        for cam in cameras:
            push(cam, float(t), np.full((240, 320, 3), 120, np.uint8))
    return lambda: None
