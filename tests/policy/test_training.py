"""Training: diffusion loss falls on a toy dataset; checkpoints resume bit-exactly; bad files are named."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from policy_runtime.training.checkpoint import WEIGHTS, load_checkpoint
from policy_runtime.training.trainer import PolicyTrainer

from .conftest import tiny_config


def _eval_loss(trainer: PolicyTrainer, n: int = 64) -> float:
    """Diffusion loss on a fixed set of samples, timesteps and noise (independent of the training RNG)."""
    saved, trainer.gen = trainer.gen, torch.Generator().manual_seed(1234)
    trainer.obs_encoder.eval()
    trainer.unet.eval()
    with torch.no_grad():
        loss = float(trainer.diffusion_loss(torch.arange(n) * (len(trainer.data) // n), augment=False))
    trainer.gen = saved
    return loss


def test_diffusion_training_reduces_loss(dataset: Path, tmp_path: Path) -> None:
    cfg = tiny_config(
        dataset,
        tmp_path,
        tokenizer={"steps": 30},
        diffusion={"steps": 150, "batch_size": 16, "lr": 3e-3, "warmup_steps": 5},
    )
    trainer = PolicyTrainer(cfg)
    for _ in range(cfg.tokenizer.steps):
        trainer.tokenizer_step()
    trainer.compute_latents()
    before = _eval_loss(trainer)
    for _ in range(cfg.diffusion.steps):
        trainer.diffusion_step()
    after = _eval_loss(trainer)
    assert after < 0.8 * before, (before, after)  # measured: 1.20 -> 0.84


def test_resume_is_bit_exact(dataset: Path, tmp_path: Path) -> None:
    overrides = {"tokenizer": {"steps": 3}, "diffusion": {"steps": 5}}
    straight = PolicyTrainer(tiny_config(dataset, tmp_path / "a", **overrides)).train(progress=False)

    cfg_b = tiny_config(dataset, tmp_path / "b", **overrides)
    PolicyTrainer(cfg_b).train(stop_after=5, progress=False)  # 3 tokenizer + 2 diffusion steps, then "crash"
    _, mid = load_checkpoint(cfg_b.out_dir + "/checkpoint")
    assert (mid["tokenizer_step"], mid["diffusion_step"]) == (3, 2)
    cfg_b.resume = True
    resumed = PolicyTrainer(cfg_b)
    assert (resumed.tok_step, resumed.diff_step) == (3, 2)
    resumed_ckpt = resumed.train(progress=False)

    a, state_a = load_checkpoint(straight)
    b, state_b = load_checkpoint(resumed_ckpt)
    assert set(a) == set(b)
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"tensors differ after resume: {different[:5]}"
    assert state_a["ema"] == state_b["ema"] and state_a["normalizer"] == state_b["normalizer"]
    assert any(k.startswith("ema.unet.") for k in a) and any(k.startswith("optim.diffusion.") for k in a)


def test_truncated_checkpoint_names_the_file(checkpoint: Path, tmp_path: Path) -> None:
    import shutil

    broken = Path(shutil.copytree(checkpoint, tmp_path / "ckpt"))
    w = broken / WEIGHTS
    w.write_bytes(w.read_bytes()[: w.stat().st_size // 2])
    with pytest.raises(ValueError, match=r"weights\.safetensors.*corrupt or truncated"):
        load_checkpoint(broken)
    (broken / "state.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"state\.json.*missing"):
        load_checkpoint(broken)


def test_dataset_errors_name_file_and_key(tmp_path: Path) -> None:
    import zarr

    from policy_runtime.training.dataset import load_dataset

    root = zarr.open_group(str(tmp_path / "bad.zarr"), mode="w")
    root.create_array("meta/episode_ends", data=torch.tensor([4]).numpy())
    root.create_array("data/tcp_pose", data=torch.zeros(4, 7).numpy())
    with pytest.raises(KeyError, match=r"bad\.zarr.*data/gripper_width"):
        load_dataset(tmp_path / "bad.zarr", None, (24, 32), "touch", 32, 2, 2)
