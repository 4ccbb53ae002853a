"""The diffusion schedule: diffusers' DDPMScheduler for training and DDIMScheduler for inference timesteps.

Training: DDPM, 100 steps, squared-cosine betas, epsilon prediction, no sample clipping (latents are
normalized to unit variance, not to [-1, 1]). Inference: DDIM with `inference_steps` (8) levels and
diffusers' default "leading" spacing (0, 12, ..., 84 for T=100, N=8), as diffusion policy and RDP
upstream use it. "Trailing" spacing would start at t=99, where the capped cosine schedule has
alpha_bar = 2.4e-7: an epsilon-predicting model's clean estimate is then amplified ~2000x, so it is
not used. Starting the top level (t=84, alpha_bar 0.05) from pure noise is the usual approximation.

The level table (`level_timesteps`) is the DDIM scheduler's own timestep list, ascending; with
leading spacing each entry's predecessor is ``t - T // N``, exactly what DDIMScheduler.step uses,
so the hand-written per-position step equals diffusers' step for a shared level (tested).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from diffusers import DDIMScheduler, DDPMScheduler


@dataclass(frozen=True)
class DiffusionConfig:
    """Noise schedule and sampler settings."""

    num_train_timesteps: int = 100
    beta_schedule: str = "squaredcos_cap_v2"
    prediction_type: str = "epsilon"
    inference_steps: int = 8
    streaming_chunks: int = 4  # h: chunks in the streaming buffer
    streaming_ladder_prob: float = 0.8  # training: share of batches with the per-chunk ladder


def make_train_scheduler(cfg: DiffusionConfig) -> DDPMScheduler:
    return DDPMScheduler(
        num_train_timesteps=cfg.num_train_timesteps,
        beta_schedule=cfg.beta_schedule,
        prediction_type=cfg.prediction_type,
        clip_sample=False,
    )


def make_ddim_scheduler(cfg: DiffusionConfig, steps: int | None = None) -> DDIMScheduler:
    sched = DDIMScheduler(
        num_train_timesteps=cfg.num_train_timesteps,
        beta_schedule=cfg.beta_schedule,
        prediction_type=cfg.prediction_type,
        clip_sample=False,
        set_alpha_to_one=True,
        timestep_spacing="leading",
        steps_offset=0,
    )
    sched.set_timesteps(steps or cfg.inference_steps)
    return sched


def level_timesteps(cfg: DiffusionConfig, steps: int | None = None) -> np.ndarray:
    """Training timestep of each inference level 0..N-1 (ascending; level N-1 is the noisiest)."""
    return np.sort(make_ddim_scheduler(cfg, steps).timesteps.numpy()).astype(np.int64)


def alphas_cumprod(cfg: DiffusionConfig) -> np.ndarray:
    """Cumulative alpha products of the training schedule, ``[T]`` float64 (from diffusers' float32)."""
    return make_train_scheduler(cfg).alphas_cumprod.numpy().astype(np.float64)
