"""Marker-grid geometry per optical tactile sensor model (ROS-free).

Sizes are fractions of the image width, so one spec holds at any capture resolution. A model is a
name from `SENSOR_MODELS` or a YAML/dict with the same fields (other sensors, other gels).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import yaml


@dataclass(frozen=True)
class MarkerGridSpec:
    """A rows x cols grid of dark markers on a bright gel.

    pitch_frac / radius_frac: marker spacing and radius as fractions of the image width.
    """

    name: str
    rows: int
    cols: int
    pitch_frac: float
    radius_frac: float

    def __post_init__(self) -> None:
        if self.rows < 2 or self.cols < 2:
            raise ValueError(f"marker grid {self.name!r}: needs at least 2x2 markers, got {self.rows}x{self.cols}")
        if not (0 < self.radius_frac < self.pitch_frac / 2 < 0.5):
            raise ValueError(
                f"marker grid {self.name!r}: need 0 < radius_frac < pitch_frac/2 < 0.5, "
                f"got radius_frac={self.radius_frac} pitch_frac={self.pitch_frac}"
            )

    @property
    def count(self) -> int:
        return self.rows * self.cols

    def pitch_px(self, width: int) -> float:
        return self.pitch_frac * width

    def radius_px(self, width: int) -> float:
        return self.radius_frac * width

    def nominal_positions(self, width: int, height: int) -> np.ndarray:
        """Marker centers of the undeformed grid, centered in the image: [rows, cols, 2] (x, y) pixels."""
        p = self.pitch_px(width)
        xs = (np.arange(self.cols) - (self.cols - 1) / 2) * p + (width - 1) / 2
        ys = (np.arange(self.rows) - (self.rows - 1) / 2) * p + (height - 1) / 2
        gx, gy = np.meshgrid(xs, ys)
        if gx.min() < 2 * self.radius_px(width) or gy.min() < 2 * self.radius_px(width):
            raise ValueError(f"marker grid {self.name!r} does not fit a {width}x{height} image")
        return np.stack([gx, gy], axis=-1)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# GelSight Mini: 7 x 9 markers over its 320x240 view (~30 px pitch, ~4 px radius at 320 px width).
SENSOR_MODELS: dict[str, MarkerGridSpec] = {
    "gelsight_mini": MarkerGridSpec("gelsight_mini", rows=7, cols=9, pitch_frac=30 / 320, radius_frac=4.5 / 320),
    # A denser gel (e.g. a DIY GelSight or MCTac-style print): 11 x 14 markers.
    "dense_11x14": MarkerGridSpec("dense_11x14", rows=11, cols=14, pitch_frac=20 / 320, radius_frac=3.5 / 320),
}


def grid_spec(model: str | dict[str, Any]) -> MarkerGridSpec:
    """A sensor model by name, by YAML file path, or from a dict of MarkerGridSpec fields."""
    if isinstance(model, dict):
        known = {f.name for f in fields(MarkerGridSpec)}
        unknown = set(model) - known
        if unknown:
            raise ValueError(f"marker grid config: unknown keys {sorted(unknown)} (known: {sorted(known)})")
        return MarkerGridSpec(**{"name": "custom", **model})
    if model in SENSOR_MODELS:
        return SENSOR_MODELS[model]
    if model.endswith((".yaml", ".yml")):
        path = Path(model)
        if not path.is_file():
            raise ValueError(f"marker grid config {model!r} does not exist")
        return grid_spec({"name": path.stem, **yaml.safe_load(path.read_text())})
    raise ValueError(f"unknown tactile sensor model {model!r} (known: {', '.join(SENSOR_MODELS)}, or a .yaml file)")
