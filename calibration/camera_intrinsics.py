"""Camera intrinsics as data, and their YAML file (the ROS camera_calibration_parsers layout).

Produced from the RealSense SDK's factory calibration (`hardware.realsense`), consumed by the camera
node's `camera_info` and by anything that projects points. The YAML opens with ROS tools.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml

# SDK distortion model -> ROS distortion_model name.
ROS_DISTORTION = {
    "none": "plumb_bob",
    "brown_conrady": "plumb_bob",
    "modified_brown_conrady": "plumb_bob",
    "inverse_brown_conrady": "plumb_bob",
    "kannala_brandt4": "equidistant",
    "ftheta": "equidistant",
}


@dataclass(frozen=True)
class CameraIntrinsics:
    """Pinhole intrinsics of one image stream (pixels) and its lens distortion."""

    width: int
    height: int
    fx: float
    fy: float
    ppx: float
    ppy: float
    model: str = "none"
    coeffs: tuple[float, ...] = field(default=(0.0, 0.0, 0.0, 0.0, 0.0))

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"intrinsics: image size must be positive, got {self.width}x{self.height}")
        for name in ("fx", "fy", "ppx", "ppy"):
            v = getattr(self, name)
            if not math.isfinite(v):
                raise ValueError(f"intrinsics: {name} must be finite, got {v}")
        if self.fx <= 0 or self.fy <= 0:
            raise ValueError(f"intrinsics: focal lengths must be > 0, got fx={self.fx} fy={self.fy}")

    @property
    def distortion_model(self) -> str:
        return ROS_DISTORTION.get(self.model, "plumb_bob")

    @property
    def k(self) -> list[float]:
        """Row-major 3x3 camera matrix."""
        return [self.fx, 0.0, self.ppx, 0.0, self.fy, self.ppy, 0.0, 0.0, 1.0]

    @property
    def p(self) -> list[float]:
        """Row-major 3x4 projection matrix (no rectification, no baseline)."""
        return [self.fx, 0.0, self.ppx, 0.0, 0.0, self.fy, self.ppy, 0.0, 0.0, 0.0, 1.0, 0.0]

    @property
    def d(self) -> list[float]:
        n = 4 if self.distortion_model == "equidistant" else 5
        return [float(c) for c in (*self.coeffs, 0.0, 0.0, 0.0, 0.0, 0.0)[:n]]


def to_yaml(intr: CameraIntrinsics, path: str | Path, camera_name: str = "camera") -> Path:
    """Write `intr` as a ROS camera-calibration YAML (plus the SDK model name)."""
    doc = {
        "image_width": intr.width,
        "image_height": intr.height,
        "camera_name": camera_name,
        "camera_matrix": {"rows": 3, "cols": 3, "data": intr.k},
        "distortion_model": intr.distortion_model,
        "distortion_coefficients": {"rows": 1, "cols": len(intr.d), "data": intr.d},
        "rectification_matrix": {"rows": 3, "cols": 3, "data": [1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0]},
        "projection_matrix": {"rows": 3, "cols": 4, "data": intr.p},
        "sdk_distortion_model": intr.model,
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def from_yaml(path: str | Path) -> CameraIntrinsics:
    """Read a camera-calibration YAML written by `to_yaml` (or by ROS camera_calibration)."""
    path = Path(path)
    doc = yaml.safe_load(path.read_text())
    try:
        k = [float(v) for v in doc["camera_matrix"]["data"]]
        d = [float(v) for v in doc.get("distortion_coefficients", {}).get("data", [])]
        if len(k) != 9:
            raise ValueError(f"camera_matrix has {len(k)} values, expected 9")
        return CameraIntrinsics(
            width=int(doc["image_width"]),
            height=int(doc["image_height"]),
            fx=k[0],
            fy=k[4],
            ppx=k[2],
            ppy=k[5],
            model=str(doc.get("sdk_distortion_model", "brown_conrady" if any(d) else "none")),
            coeffs=tuple(d),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: not a camera calibration YAML ({type(exc).__name__}: {exc})") from None
