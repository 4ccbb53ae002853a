"""The policy's observation embeddings of its training demos: what the RND predictor learns as in-distribution.

Computed with the bundle's own exported observation encoder (onnxruntime) on the dataset's frames, resized
exactly as in training, so the monitor sees the same function of the observation as the running policy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from policy_runtime.engine.policy_engine import PolicyEngine
from policy_runtime.training.dataset import load_dataset


def demo_embeddings(
    policy_dir: str | Path, dataset: str | Path, stride: int = 2, batch: int = 256, progress: bool = True
) -> np.ndarray:
    """Embeddings [N, E] of every `stride`-th frame of the dataset the policy was trained on."""
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    engine = PolicyEngine(str(policy_dir))
    s = engine.bundle.shapes
    data = load_dataset(
        dataset, engine.cameras, tuple(s["image_size"]), "touch", s["horizon"], s["obs_steps"], s["obs_stride"]
    )
    if data.touch.shape[1] != s["touch_dim"]:
        raise ValueError(f"dataset {dataset}: touch has {data.touch.shape[1]} features, the policy {s['touch_dim']}")
    frames = np.arange(0, len(data), stride)
    out = []
    for i in tqdm(range(0, len(frames), batch), desc="demo embeddings", unit="batch", disable=not progress):
        oi = data.obs_index[frames[i : i + batch]]
        images = {c: data.images[c][oi] for c in engine.cameras}
        out.append(engine.encode_obs(images, data.proprio[oi], data.touch[oi]))
    return np.concatenate(out).astype(np.float32)
