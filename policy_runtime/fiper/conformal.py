"""Split-conformal thresholds from M successful calibration rollouts.

Constant threshold (FIPER's default): the per-rollout maxima m_1..m_M of a windowed score are
exchangeable with the maximum of a new successful rollout, so taking the k-th smallest maximum with
k = ceil((M + 1)(1 - delta)) (the (1 - delta) quantile with the finite-sample correction, level k/M)
bounds the probability that a new success ever exceeds it by delta. With the AND rule the
false-alarm probability of the monitor is therefore also <= delta.

k must not exceed M: with M = 10 rollouts, delta must be >= 1/11. A request that cannot be honoured is
refused (never silently replaced by the maximum, which would promise a guarantee it does not give).

Time-varying option: one such quantile per step t over the rollouts that reach step t. It bounds the
false-alarm probability at each step, not over the whole rollout (no union bound is applied); past the
last step with enough rollouts the monitor falls back to the constant threshold.

Band option (a functional conformal band, the scale form of FAIL-Detect's time-varying CP band): a modulation
m(t), the mean windowed score of the calibration rollouts at step t, gives each rollout one score, the maximum
over its steps of s(t) / m(t); the threshold at step t is tau * m(t) with tau the conformal quantile of those
maxima. Like the constant threshold it bounds the probability that a new success *ever* exceeds it by delta
(each calibration rollout is scored against the modulation of the other M - 1, as a new one will be against
all M: a small M cannot spare a split), but it follows the score's typical course through a rollout: a score
that is high in every success at the start (the action entropy while the policy approaches, with several
equally good ways in) no longer sets the threshold for the rest of the rollout. Past the last step with
enough rollouts m holds its last value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def check_delta(delta: float) -> float:
    if not (isinstance(delta, (int, float)) and math.isfinite(delta) and 0.0 < delta < 1.0):
        raise ValueError(f"delta (allowed false-alarm rate) must be in (0, 1), got {delta!r}")
    return float(delta)


def conformal_rank(m: int, delta: float) -> int:
    """k = ceil((m + 1)(1 - delta)), the 1-based rank of the threshold among m sorted calibration scores."""
    check_delta(delta)
    if m < 1:
        raise ValueError("conformal calibration needs at least one rollout, got 0")
    # The small tolerance keeps e.g. (9 + 1) * 0.9 = 9.000000000000002 at rank 9.
    k = math.ceil((m + 1) * (1.0 - delta) - 1e-9)
    if k > m:
        raise ValueError(
            f"{m} calibration rollouts cannot give a false-alarm guarantee of delta={delta}: "
            f"need delta >= 1/(M+1) = {1.0 / (m + 1):.4f}, or at least {min_rollouts(delta)} rollouts"
        )
    return max(k, 1)


def min_rollouts(delta: float) -> int:
    """The smallest number of calibration rollouts that supports `delta`."""
    check_delta(delta)
    return max(1, math.ceil(1.0 / delta - 1.0 - 1e-9))


def conformal_quantile(values: Sequence[float] | np.ndarray, delta: float) -> float:
    """The (1 - delta) conformal quantile of calibration scores (the k-th smallest, see `conformal_rank`)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    if not np.all(np.isfinite(v)):
        raise ValueError(f"calibration scores contain {int(np.sum(~np.isfinite(v)))} non-finite value(s)")
    k = conformal_rank(v.size, delta)
    return float(np.sort(v)[k - 1])


def rollout_maxima(windowed: Sequence[np.ndarray]) -> np.ndarray:
    """Per-rollout maxima of windowed score series (each non-empty)."""
    out = []
    for i, s in enumerate(windowed):
        s = np.asarray(s, dtype=np.float64)
        if s.size == 0:
            raise ValueError(f"calibration rollout {i} has no steps")
        out.append(float(np.max(s)))
    return np.asarray(out)


def constant_threshold(windowed: Sequence[np.ndarray], delta: float) -> float:
    """The constant threshold: the conformal quantile of per-rollout maxima."""
    return conformal_quantile(rollout_maxima(windowed), delta)


def time_varying_thresholds(windowed: Sequence[np.ndarray], delta: float) -> np.ndarray:
    """Per-step conformal quantiles [T'] over the rollouts reaching each step.

    T' is the last step at which enough rollouts remain for `delta` (possibly 0 steps).
    """
    check_delta(delta)
    series = [np.asarray(s, dtype=np.float64) for s in windowed]
    if not series:
        raise ValueError("conformal calibration needs at least one rollout, got 0")
    need = min_rollouts(delta)
    out: list[float] = []
    for t in range(max(s.size for s in series)):
        at_t = [s[t] for s in series if s.size > t]
        if len(at_t) < need:
            break
        out.append(conformal_quantile(at_t, delta))
    return np.asarray(out)


BAND_MIN_ROLLOUTS = 3  # the band's modulation needs at least this many rollouts still running at a step
BAND_FLOOR = 0.1  # ... and is at least this fraction of the score's mean over all steps (no collapse to ~0)
BAND_DILATE = 5  # steps of room for a rollout a little ahead of or behind the calibration rollouts (< 1 s at 6 Hz)


def band_modulation(
    windowed: Sequence[np.ndarray], min_rollouts: int = BAND_MIN_ROLLOUTS, floor: float = BAND_FLOOR, dilate: int = 0
) -> np.ndarray:
    """m(t) [T']: the mean windowed score of the rollouts still running at step t (while at least `min_rollouts`
    are), its maximum over steps t - `dilate` .. t + `dilate` (room for rollouts a little ahead or behind), and
    at least `floor` x the mean over all steps of all rollouts."""
    series = [np.asarray(s, dtype=np.float64) for s in windowed]
    if not series or any(s.size == 0 for s in series):
        raise ValueError("the band needs calibration rollouts with at least one step each")
    m: list[float] = []
    for t in range(max(s.size for s in series)):
        at_t = [s[t] for s in series if s.size > t]
        if len(at_t) < min(min_rollouts, len(series)):
            break
        m.append(float(np.mean(at_t)))
    mod = np.asarray(m)
    if dilate > 0:
        mod = np.array([mod[max(0, t - dilate) : t + dilate + 1].max() for t in range(mod.size)])
    low = floor * float(np.mean(np.concatenate(series)))
    if not low > 0:
        raise ValueError("the band needs calibration scores that are not all zero")
    return np.maximum(mod, low)


def hold_last(values: np.ndarray, n: int) -> np.ndarray:
    """`values` over n steps: cut, or extended with its last value."""
    v = np.asarray(values, dtype=np.float64)
    return np.concatenate([v, np.full(max(0, n - v.size), v[-1])])[:n]


def band_thresholds(windowed: Sequence[np.ndarray], delta: float, dilate: int = BAND_DILATE) -> np.ndarray:
    """Per-step band thresholds tau * m(t) [T'] (see the module docstring); past T' the band holds its last value."""
    check_delta(delta)
    series = [np.asarray(s, dtype=np.float64) for s in windowed]
    if len(series) < 2:
        raise ValueError("the band needs at least two calibration rollouts")
    mod = band_modulation(series, dilate=dilate)
    # Each rollout is scored against the modulation of the others (leave-one-out), as a new rollout will be: one
    # scored against a modulation it helped make looks more typical than it is, and tau comes out too small.
    ratios = []
    for i, s in enumerate(series):
        loo = band_modulation(series[:i] + series[i + 1 :], dilate=dilate)
        ratios.append(float(np.max(s / hold_last(loo, s.size))))
    return conformal_quantile(ratios, delta) * mod
