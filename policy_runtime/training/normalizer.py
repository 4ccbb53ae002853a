"""Per-dimension affine normalizer (mean / std with a floor), numpy-only, stored as JSON.

Fields used by the policy: ``action`` (TCP-relative, [10]), ``proprio`` (TCP xyz + gripper width),
``touch`` (touch features) and ``latent`` (per channel of the tokenizer posterior mean).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class FieldStats:
    mean: np.ndarray
    std: np.ndarray

    def to_json(self) -> dict[str, list[float]]:
        return {"mean": self.mean.astype(float).tolist(), "std": self.std.astype(float).tolist()}


@dataclass
class Normalizer:
    fields: dict[str, FieldStats] = field(default_factory=dict)

    def fit(self, name: str, data: np.ndarray, std_floor: float) -> None:
        """Stats over every leading axis of ``data [..., dim]``."""
        flat = np.asarray(data, dtype=np.float64).reshape(-1, data.shape[-1])
        if not np.all(np.isfinite(flat)):
            raise ValueError(f"normalizer: field {name!r} contains NaN or inf")
        self.fields[name] = FieldStats(
            flat.mean(0).astype(np.float32), np.maximum(flat.std(0), std_floor).astype(np.float32)
        )

    def normalize(self, name: str, x: np.ndarray) -> np.ndarray:
        s = self.fields[name]
        return ((x - s.mean) / s.std).astype(np.float32)

    def unnormalize(self, name: str, x: np.ndarray) -> np.ndarray:
        s = self.fields[name]
        return (x * s.std + s.mean).astype(np.float32)

    def to_json(self) -> dict[str, Any]:
        return {k: v.to_json() for k, v in self.fields.items()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Normalizer:
        return cls(
            {
                k: FieldStats(np.asarray(v["mean"], np.float32), np.asarray(v["std"], np.float32))
                for k, v in data.items()
            }
        )
