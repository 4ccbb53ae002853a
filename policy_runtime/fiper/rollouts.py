"""The calibration input format: recorded successful rollouts and the training-demo embeddings.

A rollouts directory holds `.npz` files (numpy, no pickles):
- `train_embeddings.npz`: key `embedding` [N, D], the policy's observation embeddings of its training
  demos (the in-distribution set the RND predictor is trained on);
- one other `.npz` per SUCCESSFUL rollout, any name, with per planner step t:
  `embedding` [T, D] (what the policy published on /policy/embedding) and
  `chunks` [T, B, H, 3] (the B sampled chunks as end-effector xyz, /policy/sampled_chunks);
  optionally `success` (a boolean scalar): a rollout marked unsuccessful is refused.
Every rollout must share D, B and H. The run-time monitor refuses chunks of another B or H.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

TRAIN_EMBEDDINGS_FILE = "train_embeddings.npz"


@dataclass(frozen=True)
class CalibrationRollout:
    """One successful rollout: embeddings [T, D] and sampled end-effector chunks [T, B, H, 3]."""

    name: str
    embedding: np.ndarray
    chunks: np.ndarray

    def __post_init__(self) -> None:
        e, c = self.embedding, self.chunks
        if e.ndim != 2:
            raise ValueError(f"rollout {self.name}: 'embedding' must be [T, D], got shape {e.shape}")
        if c.ndim != 4 or c.shape[3] != 3:
            raise ValueError(f"rollout {self.name}: 'chunks' must be [T, B, H, 3], got shape {c.shape}")
        if e.shape[0] != c.shape[0] or e.shape[0] == 0:
            raise ValueError(
                f"rollout {self.name}: {e.shape[0]} embeddings but {c.shape[0]} chunk sets (need the same T >= 1)"
            )
        for key, a in (("embedding", e), ("chunks", c)):
            if not np.all(np.isfinite(a)):
                raise ValueError(f"rollout {self.name}: '{key}' contains non-finite values")

    @property
    def length(self) -> int:
        return int(self.embedding.shape[0])


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path} is not a readable .npz file: {exc}") from exc


def load_train_embeddings(path: str | Path) -> np.ndarray:
    """The training-demo embeddings [N, D] from a `train_embeddings.npz`."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"training embeddings file {p} does not exist")
    d = _load_npz(p)
    if "embedding" not in d:
        raise ValueError(f"{p} has no 'embedding' array (keys: {sorted(d)})")
    e = np.asarray(d["embedding"], dtype=np.float32)
    if e.ndim != 2 or e.shape[0] < 2:
        raise ValueError(f"{p}: 'embedding' must be [N, D] with N >= 2, got shape {e.shape}")
    return e


def load_rollout(path: str | Path) -> CalibrationRollout:
    p = Path(path)
    d = _load_npz(p)
    missing = [k for k in ("embedding", "chunks") if k not in d]
    if missing:
        raise ValueError(f"rollout {p} lacks {missing} (keys: {sorted(d)})")
    if "success" in d and not bool(np.asarray(d["success"]).item()):
        raise ValueError(f"rollout {p} is marked unsuccessful: calibrate on successful rollouts only")
    return CalibrationRollout(
        p.name, np.asarray(d["embedding"], dtype=np.float32), np.asarray(d["chunks"], dtype=np.float32)
    )


def load_rollouts(directory: str | Path, skip_failures: bool = False) -> list[CalibrationRollout]:
    """Every rollout `.npz` of a directory (sorted by name), checked for shared D, B and H.

    A file marked unsuccessful is an error, or skipped with `skip_failures` (a directory written by
    `rstack eval` holds both kinds)."""
    root = Path(directory)
    if not root.is_dir():
        raise FileNotFoundError(f"rollouts directory {root} does not exist")
    paths = [p for p in sorted(root.glob("*.npz")) if p.name != TRAIN_EMBEDDINGS_FILE]
    if skip_failures:
        paths = [p for p in paths if _marked_successful(p)]
    rollouts = [load_rollout(p) for p in paths]
    if not rollouts:
        kind = "successful rollout" if skip_failures else "rollout"
        raise ValueError(f"rollouts directory {root} holds no {kind} .npz files")
    check_consistent(rollouts)
    return rollouts


def _marked_successful(path: Path) -> bool:
    try:
        with np.load(path, allow_pickle=False) as z:
            return "success" not in z.files or bool(np.asarray(z["success"]).item())
    except (OSError, ValueError):
        return True  # unreadable: let load_rollout name the problem


def check_consistent(rollouts: list[CalibrationRollout]) -> tuple[int, int, int]:
    """The shared (D, B, H) of the rollouts, or a ValueError naming the first that differs."""
    first = rollouts[0]
    ref = (first.embedding.shape[1], first.chunks.shape[1], first.chunks.shape[2])
    for r in rollouts[1:]:
        got = (r.embedding.shape[1], r.chunks.shape[1], r.chunks.shape[2])
        if got != ref:
            raise ValueError(f"rollout {r.name} has (D, B, H) = {got}, but {first.name} has {ref}")
    return ref


def save_rollout(path: str | Path, embedding: np.ndarray, chunks: np.ndarray, success: bool = True) -> Path:
    """Write one rollout in the calibration format (for recorders and tests)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    np.savez(p, embedding=np.asarray(embedding, np.float32), chunks=np.asarray(chunks, np.float32), success=success)
    return p


def save_train_embeddings(directory: str | Path, embedding: np.ndarray) -> Path:
    p = Path(directory) / TRAIN_EMBEDDINGS_FILE
    p.parent.mkdir(parents=True, exist_ok=True)
    np.savez(p, embedding=np.asarray(embedding, np.float32))
    return p
