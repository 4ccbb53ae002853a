"""Sim tactile sensor on the wiping pad: a marker-displacement field from the pad's contact forces.

The real stack reads an optical gel sensor (GelSight Mini style) whose markers move under load;
here the field is synthesised from MuJoCo's contact points and forces on the pad, in the same units
(pixels) and layout ([rows, cols, 2]). Model (a smooth elastic-gel approximation, documented as
such, not a FEM): every contact point i with normal force n_i and shear (tx_i, ty_i) displaces
marker j by a Gaussian-weighted sum

    d_j = sum_i w_ij * (g_n * n_i * (m_j - p_i) / sigma  +  g_s * (tx_i, ty_i)),
    w_ij = exp(-|m_j - p_i|^2 / (2 sigma^2))

(normal load spreads markers radially away from the pressure, shear drags them), then a smooth
saturation |d| -> s * tanh(|d| / s) as a gel stops stretching. The field is monotonic in the
contact force. The low-dimensional embedding is a PCA of such fields (`hardware.tactile.embedding`,
as for the real sensor), fitted once at construction on seeded synthetic contacts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hardware.tactile.embedding import PCAEmbedding


@dataclass(frozen=True)
class MarkerFieldModel:
    """Marker grid on the pad face and the force -> displacement gains."""

    rows: int = 7
    cols: int = 9
    half_size_m: tuple[float, float] = (0.02, 0.03)  # pad half extents along its x (rows) and y (cols)
    sigma_m: float = 0.012
    gain_normal_px_per_n: float = 0.35
    gain_shear_px_per_n: float = 0.6
    saturation_px: float = 12.0

    def __post_init__(self) -> None:
        if self.rows < 2 or self.cols < 2:
            raise ValueError(f"marker grid needs at least 2x2 markers, got {self.rows}x{self.cols}")
        if min(self.sigma_m, self.saturation_px, *self.half_size_m) <= 0:
            raise ValueError("sigma_m, saturation_px and half_size_m must be > 0")

    def marker_positions(self) -> np.ndarray:
        """[rows, cols, 2] marker positions on the pad face (pad frame, metres), inset 10 % from the edge."""
        hx, hy = self.half_size_m
        xs = np.linspace(-0.9 * hx, 0.9 * hx, self.rows)
        ys = np.linspace(-0.9 * hy, 0.9 * hy, self.cols)
        gx, gy = np.meshgrid(xs, ys, indexing="ij")
        return np.stack([gx, gy], axis=-1)

    def field(self, points_xy: np.ndarray, forces: np.ndarray) -> np.ndarray:
        """Displacement field [rows, cols, 2] (float32 px) of contacts at `points_xy` [k, 2] with
        `forces` [k, 3] = (shear_x, shear_y, normal), pad frame, newtons."""
        pts = np.asarray(points_xy, float).reshape(-1, 2)
        f = np.asarray(forces, float).reshape(-1, 3)
        if pts.shape[0] != f.shape[0]:
            raise ValueError(f"{pts.shape[0]} contact points but {f.shape[0]} forces")
        if not (np.all(np.isfinite(pts)) and np.all(np.isfinite(f))):
            raise ValueError("contact points and forces must be finite")
        if pts.shape[0] == 0:
            return np.zeros((self.rows, self.cols, 2), np.float32)
        m = self.marker_positions()  # [R, C, 2]
        rel = m[:, :, None, :] - pts[None, None, :, :]  # [R, C, k, 2]
        w = np.exp(-(rel**2).sum(-1) / (2 * self.sigma_m**2))  # [R, C, k]
        normal = np.clip(f[:, 2], 0.0, None)
        radial = (w * normal)[..., None] * rel / self.sigma_m * self.gain_normal_px_per_n
        shear = w[..., None] * f[None, None, :, :2] * self.gain_shear_px_per_n
        d = (radial + shear).sum(axis=2)
        mag = np.linalg.norm(d, axis=-1, keepdims=True)
        s = self.saturation_px
        scale = np.where(mag > 1e-12, s * np.tanh(mag / s) / np.maximum(mag, 1e-12), 1.0)
        return (d * scale).astype(np.float32)

    def synthetic_fields(self, n: int, seed: int = 0, max_force_n: float = 30.0) -> np.ndarray:
        """[n, rows, cols, 2] fields of random pad contacts (1-4 points, normal 0-max, shear <= 1.2 x normal)."""
        rng = np.random.default_rng(seed)
        hx, hy = self.half_size_m
        out = np.empty((n, self.rows, self.cols, 2), np.float32)
        for i in range(n):
            k = int(rng.integers(1, 5))
            pts = rng.uniform((-hx, -hy), (hx, hy), size=(k, 2))
            normal = rng.uniform(0, max_force_n) * rng.dirichlet(np.ones(k))
            shear = rng.normal(size=(k, 2)) * normal[:, None] * rng.uniform(0, 0.6)
            out[i] = self.field(pts, np.column_stack([shear, normal]))
        return out


class SimTactileSensor:
    """Marker field + PCA embedding of the pad's contacts; can be frozen (a stuck sensor)."""

    def __init__(self, model: MarkerFieldModel | None = None, n_components: int = 15, seed: int = 0) -> None:
        self.model = model or MarkerFieldModel()
        self.embedding = PCAEmbedding.fit(
            self.model.synthetic_fields(600, seed=seed), n_components=n_components, model="sim_pad"
        )
        self._frozen: tuple[np.ndarray, np.ndarray] | None = None

    def read(self, points_xy: np.ndarray, forces: np.ndarray, frozen: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(field [rows, cols, 2], embedding [n_components]); while `frozen`, the last reading before it."""
        if frozen and self._frozen is not None:
            return self._frozen
        field = self.model.field(points_xy, forces)
        out = (field, self.embedding.transform(field).astype(np.float32))
        self._frozen = out
        return out
