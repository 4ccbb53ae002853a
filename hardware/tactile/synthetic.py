"""Synthetic marker images with known displacement fields, for tests and benches (ROS-free).

Renders a GelSight-like frame: a bright, unevenly lit gel with dark, anti-aliased markers (pixel
coverage computed exactly, so a marker's true center is known to sub-pixel precision), plus noise.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from hardware.tactile.geometry import MarkerGridSpec

Field = Callable[[np.ndarray], np.ndarray]  # [..., 2] positions -> [..., 2] displacements (px)


def shear(dx: float, dy: float) -> Field:
    return lambda p: np.broadcast_to(np.array([dx, dy], float), p.shape).copy()


def twist(angle_rad: float, center: tuple[float, float]) -> Field:
    """Rotation about `center` (a twisting contact)."""
    c, s = np.cos(angle_rad), np.sin(angle_rad)

    def f(p: np.ndarray) -> np.ndarray:
        q = p - np.asarray(center)
        return np.stack([c * q[..., 0] - s * q[..., 1], s * q[..., 0] + c * q[..., 1]], -1) - q

    return f


def press(center: tuple[float, float], strength_px: float, sigma_px: float) -> Field:
    """Radial bulge away from `center` (a normal press): Gaussian-weighted outward displacement."""

    def f(p: np.ndarray) -> np.ndarray:
        q = p - np.asarray(center)
        r2 = (q**2).sum(-1, keepdims=True)
        return strength_px * q / sigma_px * np.exp(-r2 / (2 * sigma_px**2))

    return f


def combine(*fields: Field) -> Field:
    return lambda p: sum(f(p) for f in fields)


def render(
    width: int,
    height: int,
    centers: np.ndarray,
    radius_px: float,
    noise: float = 2.0,
    seed: int = 0,
    shading: float = 0.25,
) -> np.ndarray:
    """A BGR uint8 image with dark markers at `centers` ([..., 2] x, y) on a lit gel."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    light = 1.0 - shading * (((xx - width * 0.3) / width) ** 2 + ((yy - height * 0.6) / height) ** 2)
    base = np.stack([170 * light, 200 * light, 185 * light], -1)  # greenish gel (BGR)
    cover = np.zeros((height, width), np.float32)
    r = int(np.ceil(radius_px + 2))
    for cx, cy in np.asarray(centers, float).reshape(-1, 2):
        x0, y0 = int(np.floor(cx)) - r, int(np.floor(cy)) - r
        xs, ys = slice(max(x0, 0), min(x0 + 2 * r + 2, width)), slice(max(y0, 0), min(y0 + 2 * r + 2, height))
        # 4x4 supersampled coverage of each pixel by the disk
        sub = (np.arange(4) + 0.5) / 4 - 0.5
        px = xx[ys, xs][..., None, None] + sub[None, None, None, :]
        py = yy[ys, xs][..., None, None] + sub[None, None, :, None]
        inside = ((px - cx) ** 2 + (py - cy) ** 2) <= radius_px**2
        cover[ys, xs] = np.maximum(cover[ys, xs], inside.mean(axis=(-1, -2)))
    img = base * (1.0 - 0.75 * cover[..., None])
    img = cv2.GaussianBlur(img, (0, 0), 0.6)
    img += rng.normal(0.0, noise, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


class SyntheticTactile:
    """Frames of one sensor model at one resolution; `frame(field)` returns (image, true displacement)."""

    def __init__(self, spec: MarkerGridSpec, width: int = 320, height: int = 240, noise: float = 2.0) -> None:
        self.spec, self.width, self.height, self.noise = spec, width, height, noise
        self.reference_positions = spec.nominal_positions(width, height)  # [rows, cols, 2]
        self._seed = 0

    def frame(self, field: Field | None = None) -> tuple[np.ndarray, np.ndarray]:
        disp = np.zeros_like(self.reference_positions) if field is None else field(self.reference_positions)
        self._seed += 1
        img = render(
            self.width, self.height, self.reference_positions + disp, self.spec.radius_px(self.width),
            noise=self.noise, seed=self._seed,
        )  # fmt: skip
        return img, disp.astype(np.float32)
