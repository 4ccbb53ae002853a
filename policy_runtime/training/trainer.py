"""Two-phase RDP training: the asymmetric tokenizer, then latent diffusion on its frozen posterior means.

Phase 1 trains the tokenizer (L1 + kl_weight * KL, AdamW). Phase 2 freezes it, encodes every action
chunk to its posterior mean, normalizes the latents per channel, and trains the observation encoder
+ UNet with the DDPM epsilon loss under the streaming noise-regime mix; an EMA copy (diffusers'
EMAModel, warmup power 0.75) is what gets exported. All randomness (batches, noise, timesteps,
augmentation) comes from one seeded torch.Generator on the CPU, whose state is checkpointed, so a
resumed run continues bit-exactly (on the same device and thread count).

Multi-GPU (not wired in here): launch with ``torchrun --nproc_per_node=G``, call
``torch.distributed.init_process_group("nccl")``, set ``device = f"cuda:{LOCAL_RANK}"``, wrap the
obs encoder + UNet (and the tokenizer in phase 1) in ``DistributedDataParallel``, seed the batch
generator with ``seed + rank`` so ranks draw different batches, scale ``batch_size`` per rank, and
let rank 0 alone write checkpoints and show progress. The models here are small enough that one
GPU (or this CPU) trains them in minutes; DDP pays off only with larger dims or images.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from diffusers.training_utils import EMAModel
from tqdm import tqdm

from policy_runtime.diffusion.noise_regimes import sample_timesteps
from policy_runtime.diffusion.schedulers import make_train_scheduler
from policy_runtime.training.checkpoint import (
    load_checkpoint,
    load_module,
    module_tensors,
    optimizer_from_flat,
    optimizer_to_flat,
    save_checkpoint,
)
from policy_runtime.training.config import TrainConfig
from policy_runtime.training.dataset import EpisodeData, load_dataset
from policy_runtime.training.normalizer import Normalizer
from policy_runtime.training.spec import PolicySpec


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


@dataclass
class StepLog:
    phase: str
    step: int
    loss: float


class PolicyTrainer:
    """Holds data, models, optimizers, EMA and the RNG; `train()` runs or resumes both phases."""

    def __init__(self, cfg: TrainConfig, data: EpisodeData | None = None) -> None:
        self.cfg = cfg
        if cfg.torch_threads > 0:
            torch.set_num_threads(cfg.torch_threads)
        self.device = pick_device(cfg.device)
        d = cfg.data
        self.data = data or load_dataset(
            d.path, d.cameras, tuple(d.image_size), d.touch_key, d.horizon, d.obs_steps, d.obs_stride
        )
        self.spec = PolicySpec.from_train_config(cfg, self.data.cameras, self.data.touch.shape[1])
        self.norm = Normalizer()
        self.norm.fit("action", self.data.action_chunks, d.std_floor)
        self.norm.fit("proprio", self.data.proprio, d.std_floor)
        self.norm.fit("touch", self.data.touch, d.std_floor)
        self.actions_n = torch.from_numpy(self.norm.normalize("action", self.data.action_chunks))
        self.touch_chunks_n = torch.from_numpy(self.norm.normalize("touch", self.data.touch_chunks))
        self.proprio_n = torch.from_numpy(self.norm.normalize("proprio", self.data.proprio))
        self.touch_n = torch.from_numpy(self.norm.normalize("touch", self.data.touch))
        self.images = {k: torch.from_numpy(v) for k, v in self.data.images.items()}
        self.obs_index = torch.from_numpy(self.data.obs_index)

        torch.manual_seed(cfg.seed)
        self.tokenizer, self.obs_encoder, self.unet = (m.to(self.device) for m in self.spec.build())
        t, f = cfg.tokenizer, cfg.diffusion
        self.opt_tok = torch.optim.AdamW(self.tokenizer.parameters(), lr=t.lr, weight_decay=t.weight_decay, fused=True)
        self.diff_params = [*self.obs_encoder.parameters(), *self.unet.parameters()]
        self.opt_diff = torch.optim.AdamW(self.diff_params, lr=f.lr, weight_decay=f.weight_decay, fused=True)
        self.ema = EMAModel(self.diff_params, decay=f.ema_max_decay, use_ema_warmup=True, power=f.ema_power)
        self.scheduler = make_train_scheduler(self.spec.diffusion)
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.tok_step = 0
        self.diff_step = 0
        self.latents_n: torch.Tensor | None = None
        self.history: list[StepLog] = []
        ckpt = self.checkpoint_dir
        if cfg.resume and (ckpt / "state.json").is_file():
            self.load(ckpt)

    @property
    def checkpoint_dir(self) -> Path:
        return Path(self.cfg.out_dir) / "checkpoint"

    # ------------------------------------------------------------------ batches
    def _randint(self, n: int, size: int) -> torch.Tensor:
        return torch.randint(0, n, (size,), generator=self.gen)

    def _obs_batch(
        self, idx: torch.Tensor, augment: bool
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
        frames = self.obs_index[idx]  # [B, To]
        images = {}
        s = self.cfg.data.image_shift_px
        for cam, arr in self.images.items():
            img = arr[frames]  # [B, To, H, W, 3] uint8
            if augment and s > 0:
                b, to, h, w, _ = img.shape
                padded = F.pad(
                    img.permute(0, 1, 4, 2, 3).reshape(b, to * 3, h, w).float(), (s, s, s, s), mode="replicate"
                )
                off = torch.randint(0, 2 * s + 1, (b, 2), generator=self.gen)
                img = torch.stack([padded[i, :, oy : oy + h, ox : ox + w] for i, (oy, ox) in enumerate(off.tolist())])
                img = img.reshape(b, to, 3, h, w).permute(0, 1, 3, 4, 2)
            images[cam] = img.to(self.device)
        return images, self.proprio_n[frames].to(self.device), self.touch_n[frames].to(self.device)

    # ------------------------------------------------------------------ steps
    def tokenizer_step(self) -> float:
        self.tokenizer.train()
        idx = self._randint(len(self.data), self.cfg.tokenizer.batch_size)
        actions, touch = self.actions_n[idx].to(self.device), self.touch_chunks_n[idx].to(self.device)
        loss, _ = self.tokenizer.loss(actions, touch, self.cfg.tokenizer.kl_weight, self.gen)
        self.opt_tok.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_tok.step()
        self.tok_step += 1
        return float(loss.detach())

    @torch.no_grad()
    def compute_latents(self) -> None:
        """Posterior means of every chunk under the frozen encoder, normalized per channel."""
        self.tokenizer.eval()
        means = [
            self.tokenizer.encoder(self.actions_n[i : i + 1024].to(self.device))[0].cpu()
            for i in range(0, len(self.data), 1024)
        ]
        lat = torch.cat(means).numpy()
        if "latent" not in self.norm.fields:
            self.norm.fit("latent", lat, 1e-3)
        self.latents_n = torch.from_numpy(self.norm.normalize("latent", lat))

    def _lr(self) -> float:
        f = self.cfg.diffusion
        warm = min(1.0, (self.diff_step + 1) / max(1, f.warmup_steps))
        return f.lr * warm * 0.5 * (1.0 + math.cos(math.pi * min(1.0, self.diff_step / max(1, f.steps))))

    def diffusion_loss(self, idx: torch.Tensor, augment: bool = True) -> torch.Tensor:
        assert self.latents_n is not None
        f, spec = self.cfg.diffusion, self.spec
        images, proprio, touch = self._obs_batch(idx, augment)
        z0 = self.latents_n[idx]
        b, length, dim = z0.shape
        t = sample_timesteps(
            b, length, spec.diffusion.streaming_chunks, f.num_train_timesteps, f.streaming_ladder_prob, self.gen
        )
        noise = torch.randn(z0.shape, generator=self.gen)
        zt = self.scheduler.add_noise(z0.reshape(-1, dim), noise.reshape(-1, dim), t.reshape(-1)).reshape(
            b, length, dim
        )
        emb = self.obs_encoder(images, proprio, touch)
        eps = self.unet(zt.to(self.device), t.to(self.device), emb)
        return F.mse_loss(eps, noise.to(self.device))

    def diffusion_step(self) -> float:
        self.obs_encoder.train()
        self.unet.train()
        for g in self.opt_diff.param_groups:
            g["lr"] = self._lr()
        loss = self.diffusion_loss(self._randint(len(self.data), self.cfg.diffusion.batch_size))
        self.opt_diff.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.diff_params, 1.0)
        self.opt_diff.step()
        self.ema.step(self.diff_params)
        self.diff_step += 1
        return float(loss.detach())

    # ------------------------------------------------------------------ loop
    def train(self, stop_after: int | None = None, progress: bool = True) -> Path:
        """Run (or continue) both phases; `stop_after` ends after that many steps in this call (for tests)."""
        cfg = self.cfg
        budget = stop_after if stop_after is not None else math.inf
        done = 0
        phases = (
            ("tokenizer", cfg.tokenizer.steps, lambda: self.tok_step, self.tokenizer_step),
            ("diffusion", cfg.diffusion.steps, lambda: self.diff_step, self.diffusion_step),
        )
        for name, total, current, step_fn in phases:
            if current() >= total:
                continue
            if name == "diffusion" and self.latents_n is None:
                self.compute_latents()
            bar = tqdm(total=total, initial=current(), desc=f"train {name}", disable=not progress, dynamic_ncols=True)
            while current() < total and done < budget:
                loss = step_fn()
                done += 1
                bar.update(1)
                if current() % cfg.log_every == 0 or current() == total:
                    self.history.append(StepLog(name, current(), loss))
                    bar.set_postfix(loss=f"{loss:.4f}")
                if current() % cfg.checkpoint_every == 0:
                    self.save(self.checkpoint_dir)
            bar.close()
            if done >= budget:
                break
        if self.tok_step >= cfg.tokenizer.steps and self.latents_n is None:
            self.compute_latents()
        return self.save(self.checkpoint_dir)

    # ------------------------------------------------------------------ checkpoints
    def tensors(self) -> dict[str, torch.Tensor]:
        out = {
            **module_tensors("tokenizer", self.tokenizer),
            **module_tensors("obs_encoder", self.obs_encoder),
            **module_tensors("unet", self.unet),
            "rng.batch": self.gen.get_state(),
        }
        names = [f"obs_encoder.{n}" for n, _ in self.obs_encoder.named_parameters()]
        names += [f"unet.{n}" for n, _ in self.unet.named_parameters()]
        out.update({f"ema.{n}": p for n, p in zip(names, self.ema.shadow_params, strict=True)})
        for prefix, opt in (("optim.tokenizer", self.opt_tok), ("optim.diffusion", self.opt_diff)):
            out.update(optimizer_to_flat(prefix, opt)[0])
        return out

    def save(self, directory: str | Path) -> Path:
        state = {
            "spec": self.spec.to_json(),
            "normalizer": self.norm.to_json(),
            "config": self.cfg.to_dict(),
            "tokenizer_step": self.tok_step,
            "diffusion_step": self.diff_step,
            "ema": {"optimization_step": self.ema.optimization_step, "cur_decay_value": self.ema.cur_decay_value},
            "optim.tokenizer": optimizer_to_flat("optim.tokenizer", self.opt_tok)[1],
            "optim.diffusion": optimizer_to_flat("optim.diffusion", self.opt_diff)[1],
            "dataset": {"path": self.data.path, "samples": len(self.data), "episodes": len(self.data.episode_ends)},
        }
        return save_checkpoint(directory, self.tensors(), state)

    def load(self, directory: str | Path) -> None:
        tensors, state = load_checkpoint(directory)
        src = str(directory)
        if PolicySpec.from_json(state["spec"]) != self.spec:  # fields added later take their defaults
            raise ValueError(f"checkpoint {src}: model spec differs from this config/dataset; use a new out_dir")
        for prefix, module in (("tokenizer", self.tokenizer), ("obs_encoder", self.obs_encoder), ("unet", self.unet)):
            load_module(prefix, module, tensors, src)
        names = [f"ema.obs_encoder.{n}" for n, _ in self.obs_encoder.named_parameters()]
        names += [f"ema.unet.{n}" for n, _ in self.unet.named_parameters()]
        for name, shadow in zip(names, self.ema.shadow_params, strict=True):
            shadow.data.copy_(tensors[name])
        self.ema.optimization_step = state["ema"]["optimization_step"]
        self.ema.cur_decay_value = state["ema"]["cur_decay_value"]
        optimizer_from_flat("optim.tokenizer", self.opt_tok, tensors, state["optim.tokenizer"])
        optimizer_from_flat("optim.diffusion", self.opt_diff, tensors, state["optim.diffusion"])
        self.gen.set_state(tensors["rng.batch"])
        self.norm = Normalizer.from_json(state["normalizer"])
        self.tok_step, self.diff_step = state["tokenizer_step"], state["diffusion_step"]
        if self.tok_step >= self.cfg.tokenizer.steps:
            self.compute_latents()


def train_from_config(cfg: TrainConfig, progress: bool = True) -> Path:
    """Entry point of `rstack train`: train (or resume) and return the checkpoint directory."""
    return PolicyTrainer(cfg).train(progress=progress)


def load_trained_models(directory: str | Path, use_ema: bool = True):
    """Rebuild (spec, normalizer, tokenizer, obs_encoder, unet) from a checkpoint, EMA weights by default."""
    tensors, state = load_checkpoint(directory)
    spec = PolicySpec.from_json(state["spec"])
    norm = Normalizer.from_json(state["normalizer"])
    if "latent" not in norm.fields:
        raise ValueError(f"checkpoint {directory}: tokenizer training has not finished (no latent statistics)")
    tokenizer, obs_encoder, unet = spec.build()
    src = str(directory)
    load_module("tokenizer", tokenizer, tensors, src)
    prefix = "ema." if use_ema else ""
    load_module(f"{prefix}obs_encoder", obs_encoder, _with_buffers(tensors, prefix, "obs_encoder"), src)
    load_module(f"{prefix}unet", unet, _with_buffers(tensors, prefix, "unet"), src)
    for m in (tokenizer, obs_encoder, unet):
        m.eval()
    return spec, norm, tokenizer, obs_encoder, unet, state


def _with_buffers(tensors: dict[str, torch.Tensor], prefix: str, name: str) -> dict[str, torch.Tensor]:
    """EMA holds parameters only: take persistent buffers (if any) from the live weights."""
    if not prefix:
        return tensors
    out = dict(tensors)
    for k, v in tensors.items():
        if k.startswith(name + ".") and f"{prefix}{k}" not in out:
            out[f"{prefix}{k}"] = v
    return out


def seed_everything(seed: int) -> None:
    np.random.seed(seed)
    torch.manual_seed(seed)
