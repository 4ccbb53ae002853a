"""Marker detection in optical tactile images (ROS-free, OpenCV + vectorized numpy).

`detect_markers` finds dark blobs against the local gel brightness and returns their sub-pixel
centers. It uses OpenCV's blob labelling (`connectedComponentsWithStats`) on a local-contrast mask
and an intensity-weighted centroid per blob (one `np.bincount` pass, no per-marker Python loop),
rather than `cv2.SimpleBlobDetector`: that detector thresholds the image at many levels and returns
binary-contour centers, which is several times slower and less precise (bench/bench_tactile.py
prints both side by side). `detect_markers_blob_detector` keeps it available for comparison.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class DetectorParams:
    """Marker detection settings, in pixels of the image being processed.

    contrast: how much darker than its surroundings (gray levels) a pixel must be to count.
    """

    radius_px: float
    contrast: float = 20.0
    min_area_frac: float = 0.3
    max_area_frac: float = 3.0

    @property
    def background_kernel(self) -> int:
        k = round(self.radius_px * 5) | 1
        return max(k, 5)


def to_gray(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    raise ValueError(f"tactile image must be HxW or HxWx3, got shape {image.shape}")


def detect_markers(image: np.ndarray, params: DetectorParams) -> np.ndarray:
    """Sub-pixel centers [N, 2] (x, y) of the dark markers in `image` (BGR or gray, uint8)."""
    if image.dtype != np.uint8:
        raise ValueError(f"tactile image must be uint8, got {image.dtype}")
    gray = to_gray(image)
    k = params.background_kernel
    background = cv2.blur(gray, (k, k))
    darkness = cv2.subtract(background, gray)  # saturates at 0: brighter-than-surroundings is no marker
    _, core = cv2.threshold(darkness, params.contrast, 255, cv2.THRESH_BINARY)
    # Grow each blob by a pixel so its anti-aliased rim weighs in symmetrically.
    mask = cv2.dilate(core, np.ones((3, 3), np.uint8))
    n, labels = cv2.connectedComponents(mask, connectivity=8, ltype=cv2.CV_32S)
    pts = cv2.findNonZero(mask)
    if n <= 1 or pts is None:
        return np.zeros((0, 2), np.float32)
    pts = pts.reshape(-1, 2)
    xs, ys = pts[:, 0], pts[:, 1]
    lbl = labels[ys, xs]
    w = darkness[ys, xs].astype(np.float32)
    blob_area = np.bincount(lbl, minlength=n)[1:]
    sw = np.bincount(lbl, weights=w, minlength=n)[1:]
    sx = np.bincount(lbl, weights=w * xs, minlength=n)[1:]
    sy = np.bincount(lbl, weights=w * ys, minlength=n)[1:]
    area = np.pi * params.radius_px**2
    keep = (blob_area >= params.min_area_frac * area) & (blob_area <= params.max_area_frac * area) & (sw > 0)
    return np.stack([sx[keep] / sw[keep], sy[keep] / sw[keep]], axis=1).astype(np.float32)


def make_blob_detector(params: DetectorParams) -> cv2.SimpleBlobDetector:
    """OpenCV's SimpleBlobDetector tuned for dark round markers of `params.radius_px`."""
    p = cv2.SimpleBlobDetector_Params()
    p.filterByColor, p.blobColor = True, 0
    p.filterByArea = True
    area = np.pi * params.radius_px**2
    p.minArea, p.maxArea = params.min_area_frac * area, params.max_area_frac * area
    p.filterByCircularity, p.minCircularity = True, 0.5
    p.filterByConvexity = p.filterByInertia = False
    p.minThreshold, p.maxThreshold, p.thresholdStep = 40, 200, 20
    p.minDistBetweenBlobs = params.radius_px * 2
    return cv2.SimpleBlobDetector_create(p)


def detect_markers_blob_detector(image: np.ndarray, detector: cv2.SimpleBlobDetector) -> np.ndarray:
    """Marker centers [N, 2] by `cv2.SimpleBlobDetector` (the slower reference detector)."""
    kps = detector.detect(to_gray(image))
    return np.array([k.pt for k in kps], np.float32).reshape(-1, 2)
