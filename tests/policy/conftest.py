"""Fixtures for the policy tests: a synthetic zarr dataset, a tiny trained checkpoint and its bundle.

Sizes are tiny so the whole policy suite stays within a couple of minutes on a shared 2-core CPU;
torch uses one thread (small convs are slower with two contended threads).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from policy_runtime.training.config import TrainConfig, load_config
from policy_runtime.training.synthetic import write_synthetic_dataset

torch.set_num_threads(1)

TINY = {
    "data": {"image_size": [24, 32], "image_shift_px": 2},
    "tokenizer": {"steps": 4, "batch_size": 32},
    "diffusion": {
        "steps": 4,
        "batch_size": 8,
        "down_dims": [32, 64],
        "emb_dim": 32,
        "step_embed_dim": 32,
        "cnn_channels": [8, 8, 16, 16],
        "keypoints": 8,
        "warmup_steps": 2,
    },
    "checkpoint_every": 1000,
    "resume": False,
}


def tiny_config(dataset: Path, out_dir: Path, **overrides: dict) -> TrainConfig:
    merged = {**TINY, "out_dir": str(out_dir)}
    merged["data"] = {**TINY["data"], "path": str(dataset)}
    for key, value in overrides.items():
        merged[key] = {**merged[key], **value} if isinstance(value, dict) and key in merged else value
    return load_config(None, merged)


@pytest.fixture(scope="session")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_dataset(tmp_path_factory.mktemp("data") / "train.zarr", episodes=4, steps=64, seed=0)


@pytest.fixture(scope="session")
def checkpoint(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from policy_runtime.training.trainer import PolicyTrainer

    cfg = tiny_config(dataset, tmp_path_factory.mktemp("run"))
    return PolicyTrainer(cfg).train(progress=False)


@pytest.fixture(scope="session")
def bundle_dir(checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from policy_runtime.export.onnx_export import export_bundle

    return export_bundle(checkpoint, tmp_path_factory.mktemp("export") / "bundle", progress=False)
