"""Synthetic but realistic-shaped monitor inputs for the FIPER tests.

In-distribution embeddings lie near a 3-D linear manifold in R^D (as a policy encoder's features of
one task do); out-of-distribution ones are pushed off it. Sampled chunks are B noisy copies of a
smooth end-effector path: tight (samples agree to ~2 mm) or spread (~5 cm apart).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from policy_runtime.fiper.rollouts import save_rollout, save_train_embeddings

D, B, H = 16, 32, 8
_BASIS_SEED = 1234


def basis(d: int = D) -> np.ndarray:
    return np.random.default_rng(_BASIS_SEED).normal(size=(3, d))


def in_dist_embeddings(n: int, rng: np.random.Generator, d: int = D) -> np.ndarray:
    z = rng.normal(size=(n, 3))
    return (z @ basis(d) + 0.05 * rng.normal(size=(n, d))).astype(np.float32)


def ood_embeddings(n: int, rng: np.random.Generator, d: int = D, scale: float = 3.0) -> np.ndarray:
    return (in_dist_embeddings(n, rng, d) + scale * rng.normal(size=(n, d))).astype(np.float32)


def chunks(rng: np.random.Generator, t0: float, spread_m: float, b: int = B, h: int = H) -> np.ndarray:
    """B sampled chunks [B, H, 3] around a path point that moves with phase t0 (0..1)."""
    s = t0 + np.linspace(0.0, 0.05, h)
    path = np.stack([0.4 + 0.2 * s, 0.2 * np.sin(2 * s), 0.3 - 0.1 * s], axis=-1)  # [H, 3]
    return (path[None] + spread_m * rng.normal(size=(b, h, 3))).astype(np.float32)


def rollout(rng: np.random.Generator, steps: int, spread_m: float = 0.002, ood: bool = False):
    emb = ood_embeddings(steps, rng) if ood else in_dist_embeddings(steps, rng)
    ch = np.stack([chunks(rng, t / steps, spread_m) for t in range(steps)])
    return emb, ch


def write_rollouts_dir(root: Path, m: int, seed: int = 0, steps: int = 30, n_train: int = 2000) -> Path:
    """A calibration input directory: train_embeddings.npz + m successful rollouts."""
    rng = np.random.default_rng(seed)
    save_train_embeddings(root, in_dist_embeddings(n_train, rng))
    for i in range(m):
        emb, ch = rollout(rng, steps + int(rng.integers(0, 5)))
        save_rollout(root / f"rollout_{i:03d}.npz", emb, ch)
    return root


def write_policy_bundle(root: Path, d: int = D, tag: str = "a") -> Path:
    """A stand-in policy bundle directory (its ONNX bytes only identify it; nothing runs it here)."""
    import json

    root.mkdir(parents=True, exist_ok=True)
    (root / "denoiser.onnx").write_bytes(f"policy-{tag}".encode())
    (root / "policy.json").write_text(json.dumps({"schema_version": 1, "embedding_dim": d}))
    return root
