"""Action-chunk entropy (ACE): how much the policy's B sampled action chunks disagree.

Per planner step the policy samples B action chunks and decodes them to end-effector positions
[B, H, 3]. For each horizon step h the B points are binned in a 3-D grid whose cell edge is a fixed
fraction (0.03 by default) of the calibration range per axis (the extent of all end-effector points
seen during calibration) and whose bounds are the batch min/max widened by 1% of the batch extent per
axis. ACE is the Shannon entropy (bits) of the cell occupancy, averaged over the horizon: 0 when all
samples agree to within a cell, up to log2(B) when every sample lands in its own cell.

Deviation from upstream: none in the definition; an axis whose calibration range is (near) zero gets
a cell edge of at least `MIN_CELL_M` so a planar task does not divide by zero.
"""

from __future__ import annotations

import numpy as np

DEFAULT_CELL_FRACTION = 0.03
BOUNDS_MARGIN = 0.01
MIN_CELL_M = 1e-4
_MAX_BINS_PER_AXIS = 1 << 20  # 2**60 cells in all: the flat cell index stays inside int64


def check_chunks(chunks: np.ndarray, what: str = "sampled chunks") -> np.ndarray:
    """Validate end-effector chunks [B, H, 3] (B >= 1, finite); return them as float64."""
    c = np.asarray(chunks, dtype=np.float64)
    if c.ndim != 3 or c.shape[2] != 3 or c.shape[0] < 1 or c.shape[1] < 1:
        raise ValueError(f"{what} must have shape [B, H, 3] (end-effector xyz), got {c.shape}")
    if not np.all(np.isfinite(c)):
        raise ValueError(f"{what} contain {int(np.sum(~np.isfinite(c)))} non-finite value(s)")
    return c


def calibration_range(points: np.ndarray) -> np.ndarray:
    """Per-axis extent [3] (max - min) of end-effector points [..., 3] (e.g. all calibration chunks)."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    if p.shape[0] == 0:
        raise ValueError("no end-effector points to compute the ACE calibration range from")
    if not np.all(np.isfinite(p)):
        raise ValueError("ACE calibration points contain non-finite values")
    return p.max(axis=0) - p.min(axis=0)


def cell_size(cal_range: np.ndarray, fraction: float = DEFAULT_CELL_FRACTION) -> np.ndarray:
    """Grid cell edge per axis [3]: `fraction` of the calibration range, at least MIN_CELL_M."""
    r = np.asarray(cal_range, dtype=np.float64)
    if r.shape != (3,) or not np.all(np.isfinite(r)) or np.any(r < 0):
        raise ValueError(f"ACE calibration range must be 3 finite non-negative values, got {cal_range!r}")
    if not (np.isfinite(fraction) and 0.0 < fraction <= 1.0):
        raise ValueError(f"ACE cell fraction must be in (0, 1], got {fraction!r}")
    return np.maximum(r * fraction, MIN_CELL_M)


def action_chunk_entropy(chunks: np.ndarray, cell: np.ndarray) -> float:
    """ACE in bits of sampled chunks [B, H, 3] on a grid with cell edge `cell` [3] (vectorized)."""
    c = check_chunks(chunks)
    cell = np.asarray(cell, dtype=np.float64)
    if cell.shape != (3,) or not np.all(cell > 0):
        raise ValueError(f"ACE cell size must be 3 positive values, got {cell!r}")
    b, h, _ = c.shape
    lo = c.min(axis=0)  # [H, 3]
    hi = c.max(axis=0)
    margin = BOUNDS_MARGIN * (hi - lo)
    lo = lo - margin
    n_bins = np.clip(np.ceil((hi + margin - lo) / cell), 1, _MAX_BINS_PER_AXIS).astype(np.int64)  # [H, 3]
    idx = np.floor((c - lo) / cell).astype(np.int64)  # [B, H, 3]
    idx = np.clip(idx, 0, n_bins - 1)
    flat = (idx[..., 0] * n_bins[:, 1] + idx[..., 1]) * n_bins[:, 2] + idx[..., 2]  # [B, H]
    # Occupancy counts per horizon step: sort each column, count runs of equal cell ids.
    s = np.sort(flat, axis=0)  # [B, H]
    new_run = np.ones_like(s, dtype=bool)
    new_run[1:] = s[1:] != s[:-1]
    run_id = np.cumsum(new_run, axis=0) - 1  # [B, H]
    counts = np.bincount((run_id * h + np.arange(h)).ravel(), minlength=b * h).reshape(b, h)
    p = counts / b
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = -np.where(p > 0, p * np.log2(p), 0.0).sum(axis=0)  # [H]
    return float(np.mean(ent))


AUTO_CELL_FRACTIONS = (0.005, 0.01, 0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2, 0.3, 0.5)
AUTO_TARGET = 0.5  # of log2(B)


def choose_cell_fraction(
    chunk_sets: list[np.ndarray],
    cal_range: np.ndarray,
    candidates: tuple[float, ...] = AUTO_CELL_FRACTIONS,
    target: float = AUTO_TARGET,
) -> tuple[float, dict[float, float]]:
    """The cell fraction whose median per-step ACE over calibration chunks sits nearest `target` * log2(B).

    ACE is bounded by log2(B): with few samples (B=8 on a CPU) and a fine grid every sample lands in its own
    cell at every step, ACE saturates on successes and failures alike and cannot separate them. This picks
    the grid on the successful calibration rollouts so that their typical ACE is mid-range, leaving room
    above it for the disagreement that precedes a failure. `chunk_sets`: per-step chunks [B, H, 3].
    Returns (fraction, {candidate: median ACE}).
    """
    if not chunk_sets:
        raise ValueError("no calibration chunks to choose the ACE cell fraction from")
    b = check_chunks(chunk_sets[0]).shape[0]
    if b < 2:
        raise ValueError("choosing the ACE cell fraction needs B >= 2 samples per step")
    goal = target * np.log2(b)
    medians = {
        f: float(np.median([action_chunk_entropy(c, cell_size(cal_range, f)) for c in chunk_sets])) for f in candidates
    }
    best = min(candidates, key=lambda f: (abs(medians[f] - goal), f))
    return best, medians
