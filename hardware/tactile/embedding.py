"""PCA embedding of marker displacement fields: fitted on recorded data, saved as .npz (ROS-free).

Upstream RDP feeds the fast decoder a 15-D PCA of the marker displacements. The fit is a centred
SVD in numpy (a few lines; not worth a scikit-learn dependency). Features are whitened: each
component divided by its training standard deviation, so a touch seen in training reads ~unit scale.
Files are plain arrays plus a JSON header in one .npz, loaded with allow_pickle=False.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FORMAT = "rstack.tactile_pca/1"


@dataclass(frozen=True)
class PCAEmbedding:
    """x [rows*cols*2] -> z [n_components] = (components @ (x - mean)) / scale."""

    mean: np.ndarray
    components: np.ndarray
    scale: np.ndarray
    rows: int
    cols: int
    model: str = ""
    explained_variance_ratio: float = float("nan")

    @property
    def dim(self) -> int:
        return int(self.components.shape[0])

    @property
    def input_dim(self) -> int:
        return self.rows * self.cols * 2

    @classmethod
    def fit(cls, fields: np.ndarray, n_components: int = 15, model: str = "") -> PCAEmbedding:
        """Fit on displacement fields [N, rows, cols, 2] (N > n_components frames, no NaN)."""
        f = np.asarray(fields, np.float64)
        if f.ndim != 4 or f.shape[-1] != 2:
            raise ValueError(f"fit needs displacement fields [N, rows, cols, 2], got shape {f.shape}")
        n, rows, cols, _ = f.shape
        if n <= n_components:
            raise ValueError(f"fit needs more than {n_components} frames for {n_components} components, got {n}")
        if not np.all(np.isfinite(f)):
            raise ValueError(f"fit data has {int((~np.isfinite(f)).sum())} non-finite values")
        x = f.reshape(n, -1)
        if n_components > x.shape[1]:
            raise ValueError(f"n_components={n_components} exceeds the field size {x.shape[1]}")
        mean = x.mean(axis=0)
        _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
        var = s**2 / (n - 1)
        std = np.sqrt(var[:n_components])
        if std[-1] <= 1e-9:
            raise ValueError(f"data spans fewer than {n_components} dimensions (no variation left to embed)")
        ratio = float(var[:n_components].sum() / var.sum()) if var.sum() > 0 else float("nan")
        return cls(mean.astype(np.float32), vt[:n_components].astype(np.float32), std.astype(np.float32),
                   rows, cols, model, ratio)  # fmt: skip

    def transform(self, displacement: np.ndarray) -> np.ndarray:
        """Features [dim] of one field [rows, cols, 2], or [N, dim] of a batch [N, rows, cols, 2]."""
        d = np.asarray(displacement, np.float32)
        if d.shape[-3:] != (self.rows, self.cols, 2):
            raise ValueError(f"field shape {d.shape} does not match the embedding's grid [{self.rows}, {self.cols}, 2]")
        x = d.reshape(*d.shape[:-3], self.input_dim)
        if not np.all(np.isfinite(x)):
            raise ValueError("displacement field has non-finite values")
        return ((x - self.mean) @ self.components.T) / self.scale

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        header = {"format": FORMAT, "rows": self.rows, "cols": self.cols, "model": self.model,
                  "dim": self.dim, "explained_variance_ratio": self.explained_variance_ratio}  # fmt: skip
        with path.open("wb") as fh:
            np.savez(
                fh, mean=self.mean, components=self.components, scale=self.scale, header=np.array(json.dumps(header))
            )
        return path

    @classmethod
    def load(cls, path: str | Path) -> PCAEmbedding:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"PCA file {str(path)!r} does not exist")
        try:
            with np.load(path, allow_pickle=False) as z:
                header = json.loads(str(z["header"]))
                mean, comps, scale = z["mean"], z["components"], z["scale"]
        except (KeyError, ValueError, OSError) as exc:
            raise ValueError(f"{path}: not a tactile PCA file ({exc})") from None
        if header.get("format") != FORMAT:
            raise ValueError(f"{path}: format {header.get('format')!r}, expected {FORMAT!r}")
        rows, cols = int(header["rows"]), int(header["cols"])
        if comps.shape != (scale.shape[0], rows * cols * 2) or mean.shape != (rows * cols * 2,):
            raise ValueError(f"{path}: array shapes do not match a {rows}x{cols} grid")
        return cls(mean, comps, scale, rows, cols, str(header.get("model", "")),
                   float(header.get("explained_variance_ratio", float("nan"))))  # fmt: skip
