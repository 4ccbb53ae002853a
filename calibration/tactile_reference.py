"""Stored no-contact reference of a tactile sensor: the image (PNG) and its marker grid (YAML)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import yaml


@dataclass(frozen=True)
class TactileReference:
    sensor: str
    model: str
    image: np.ndarray
    positions: np.ndarray  # [rows, cols, 2] (x, y) px
    captured_at: float


def save_reference(directory: str | Path, ref: TactileReference) -> Path:
    """Write `<dir>/<sensor>.png` and `<dir>/<sensor>.yaml`; returns the YAML path."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(d / f"{ref.sensor}.png"), ref.image):
        raise OSError(f"could not write {d / f'{ref.sensor}.png'}")
    rows, cols, _ = ref.positions.shape
    doc = {
        "sensor": ref.sensor,
        "model": ref.model,
        "captured_at": ref.captured_at or time.time(),
        "rows": rows,
        "cols": cols,
        "image": f"{ref.sensor}.png",
        "positions_xy": np.round(ref.positions.astype(float), 4).reshape(-1, 2).tolist(),
    }
    path = d / f"{ref.sensor}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def load_reference(directory: str | Path, sensor: str) -> TactileReference:
    path = Path(directory) / f"{sensor}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"no tactile reference for {sensor!r} in {directory}")
    doc = yaml.safe_load(path.read_text())
    try:
        rows, cols = int(doc["rows"]), int(doc["cols"])
        pos = np.asarray(doc["positions_xy"], np.float32).reshape(rows, cols, 2)
        image = cv2.imread(str(path.parent / doc["image"]), cv2.IMREAD_COLOR)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: not a tactile reference ({type(exc).__name__}: {exc})") from None
    if image is None:
        raise ValueError(f"{path}: reference image {doc['image']!r} is missing or unreadable")
    return TactileReference(str(doc["sensor"]), str(doc["model"]), image, pos, float(doc["captured_at"]))
