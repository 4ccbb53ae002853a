"""The 6-D force/torque touch input: same downstream interface as the marker PCA (ROS-free).

Either the arm's external wrench estimate at the TCP or an external F/T sensor. Features are
(wrench - bias) / scale as float32 [6], `tare()` sets the bias from a no-contact reading.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

NAMES = ("fx", "fy", "fz", "tx", "ty", "tz")


class WrenchFeatures:
    """Normalized 6-D wrench features; `scale` in N and Nm per axis."""

    dim = 6

    def __init__(self, scale: Sequence[float] = (10.0, 10.0, 10.0, 1.0, 1.0, 1.0)) -> None:
        s = np.asarray(scale, np.float32)
        if s.shape != (6,) or not np.all(np.isfinite(s)) or np.any(s <= 0):
            raise ValueError(f"wrench scale must be 6 finite values > 0 [fx fy fz tx ty tz], got {list(scale)}")
        self.scale = s
        self.bias = np.zeros(6, np.float32)

    @staticmethod
    def _check(wrench: Sequence[float]) -> np.ndarray:
        w = np.asarray(wrench, np.float32)
        if w.shape != (6,):
            raise ValueError(f"wrench must have 6 values [fx fy fz tx ty tz], got shape {w.shape}")
        bad = [NAMES[i] for i in range(6) if not math.isfinite(float(w[i]))]
        if bad:
            raise ValueError(f"wrench has non-finite {', '.join(bad)}")
        return w

    def tare(self, wrench: Sequence[float]) -> None:
        """Take `wrench` (no contact) as the zero."""
        self.bias = self._check(wrench).copy()

    def transform(self, wrench: Sequence[float]) -> np.ndarray:
        return (self._check(wrench) - self.bias) / self.scale
