"""Marker tracking against a reference frame: the displacement field of a tactile sensor (ROS-free).

The reference (no-contact) frame fixes the grid: its markers are sorted into the model's
rows x cols. Each new frame's detections are matched to the markers' previous positions by mutual
nearest neighbour within half a pitch (vectorized distance matrix; a 7x9 grid is 63x63), so the
field follows large shear that builds up over frames. A marker that is not found keeps its last
position and is flagged; the field stays complete.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hardware.tactile.geometry import MarkerGridSpec
from hardware.tactile.markers import DetectorParams, detect_markers


class ReferenceError(ValueError):
    """The reference frame does not show the model's marker grid."""


@dataclass(frozen=True)
class MarkerFlow:
    """One frame's field: positions and displacements [rows, cols, 2] (x, y px), and which were found."""

    positions: np.ndarray
    displacement: np.ndarray
    found: np.ndarray
    detected: int

    @property
    def missing(self) -> int:
        return int(self.found.size - np.count_nonzero(self.found))


def sort_into_grid(points: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """[rows*cols, 2] points of a roughly axis-aligned grid -> [rows, cols, 2], row-major, left to right."""
    if len(points) != rows * cols:
        raise ReferenceError(f"found {len(points)} markers, the grid has {rows}x{cols}={rows * cols}")
    by_y = points[np.argsort(points[:, 1], kind="stable")].reshape(rows, cols, 2)
    order = np.argsort(by_y[..., 0], axis=1, kind="stable")
    grid = np.take_along_axis(by_y, order[..., None], axis=1)
    # Rows must not interleave: every row lies entirely below the previous one.
    if rows > 1 and not np.all(grid[1:, :, 1].min(axis=1) > grid[:-1, :, 1].max(axis=1)):
        raise ReferenceError("markers do not form separable rows (grid rotated more than the gap allows?)")
    return grid


class MarkerTracker:
    """Reference capture + per-frame tracking for one sensor model at one image width."""

    def __init__(self, spec: MarkerGridSpec, width: int, contrast: float = 20.0) -> None:
        self.spec = spec
        self.width = width
        self.params = DetectorParams(radius_px=spec.radius_px(width), contrast=contrast)
        self.max_step_px = 0.5 * spec.pitch_px(width)
        self.reference: np.ndarray | None = None  # [rows, cols, 2]
        self._prev: np.ndarray | None = None  # [rows*cols, 2]

    @property
    def has_reference(self) -> bool:
        return self.reference is not None

    def set_reference_positions(self, positions: np.ndarray) -> None:
        pos = np.asarray(positions, np.float32)
        if pos.shape != (self.spec.rows, self.spec.cols, 2) or not np.all(np.isfinite(pos)):
            raise ReferenceError(
                f"reference positions must be finite [{self.spec.rows}, {self.spec.cols}, 2], got {pos.shape}"
            )
        self.reference = pos
        self._prev = pos.reshape(-1, 2).copy()

    def capture_reference(self, image: np.ndarray) -> np.ndarray:
        """Make `image` (no contact) the reference; returns its marker grid [rows, cols, 2]."""
        self._check_width(image)
        pts = detect_markers(image, self.params)
        try:
            grid = sort_into_grid(pts, self.spec.rows, self.spec.cols)
        except ReferenceError as exc:
            raise ReferenceError(f"reference frame for {self.spec.name!r}: {exc}") from None
        self.set_reference_positions(grid)
        return grid

    def track(self, image: np.ndarray) -> MarkerFlow:
        """The displacement field of `image` against the reference."""
        if self.reference is None or self._prev is None:
            raise ReferenceError("no reference frame: capture one first (no contact on the gel)")
        self._check_width(image)
        det = detect_markers(image, self.params)
        prev = self._prev
        found = np.zeros(len(prev), bool)
        pos = prev.copy()
        if len(det):
            d2 = ((prev[:, None, :] - det[None, :, :]) ** 2).sum(-1)  # [N markers, M detections]
            nearest_det = d2.argmin(axis=1)
            nearest_marker = d2.argmin(axis=0)
            idx = np.arange(len(prev))
            mutual = nearest_marker[nearest_det] == idx
            close = d2[idx, nearest_det] <= self.max_step_px**2
            found = mutual & close
            pos[found] = det[nearest_det[found]]
        self._prev = pos
        shape = self.reference.shape
        positions = pos.reshape(shape)
        return MarkerFlow(
            positions=positions,
            displacement=(positions - self.reference).astype(np.float32),
            found=found.reshape(shape[:2]),
            detected=len(det),
        )

    def _check_width(self, image: np.ndarray) -> None:
        if image.ndim < 2 or image.shape[1] != self.width:
            raise ValueError(f"tactile image is {image.shape[1::-1]} wide, tracker set up for width {self.width}")
