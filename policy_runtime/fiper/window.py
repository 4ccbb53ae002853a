"""Rolling window sums that aggregate a per-step score over the last `w` planner steps.

Both the live monitor (`RollingWindowSum`, one step at a time) and calibration (`windowed_sums`, a whole
rollout at once) use the same definition, so thresholds and live scores are comparable: at step t the
windowed score is the sum of the raw scores of steps max(0, t - w + 1) .. t (a partial window at the
start of a rollout).
"""

from __future__ import annotations

from collections import deque

import numpy as np

MAX_WINDOW = 1000


def check_window(window: int) -> int:
    """Validate a window length (an int >= 1); return it."""
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or not 1 <= window <= MAX_WINDOW:
        raise ValueError(f"window must be an integer in 1..{MAX_WINDOW}, got {window!r}")
    return int(window)


def windowed_sums(scores: np.ndarray, window: int) -> np.ndarray:
    """Rolling sums over the last `window` entries of a 1-D score series (partial at the start)."""
    w = check_window(window)
    x = np.asarray(scores, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"scores must be 1-D [T], got shape {x.shape}")
    c = np.concatenate(([0.0], np.cumsum(x)))
    t = np.arange(1, x.size + 1)
    return c[t] - c[np.maximum(t - w, 0)]


class RollingWindowSum:
    """The sum of the last `window` values pushed (exact: re-summed from the window, no drift)."""

    def __init__(self, window: int) -> None:
        self.window = check_window(window)
        self._values: deque[float] = deque(maxlen=self.window)

    def push(self, value: float) -> float:
        """Add one value and return the current window sum."""
        self._values.append(float(value))
        return self.value

    @property
    def value(self) -> float:
        return float(sum(self._values))

    def __len__(self) -> int:
        return len(self._values)

    def reset(self) -> None:
        self._values.clear()
