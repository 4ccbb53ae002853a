"""PolicySpec: every size needed to rebuild the networks (saved in checkpoints, read by the exporter)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from policy_runtime.diffusion.schedulers import DiffusionConfig
from policy_runtime.models.obs_encoder import ObsEncoder, ObsEncoderConfig
from policy_runtime.models.tokenizer import AsymmetricTokenizer, TokenizerConfig
from policy_runtime.models.unet1d import ConditionalUnet1D, UNetConfig
from policy_runtime.training.config import TrainConfig


@dataclass(frozen=True)
class PolicySpec:
    tokenizer: TokenizerConfig
    obs: ObsEncoderConfig
    unet: UNetConfig
    diffusion: DiffusionConfig
    obs_stride: int
    control_rate_hz: float

    @classmethod
    def from_train_config(cls, cfg: TrainConfig, cameras: list[str], touch_dim: int) -> PolicySpec:
        d, t, f = cfg.data, cfg.tokenizer, cfg.diffusion
        tok = TokenizerConfig(
            action_dim=10, horizon=d.horizon, touch_dim=touch_dim, enc_channels=t.enc_channels,
            latent_dim=t.latent_dim, gru_hidden=t.gru_hidden,
        )  # fmt: skip
        obs = ObsEncoderConfig(
            cameras=tuple(cameras), image_size=(d.image_size[0], d.image_size[1]), obs_steps=d.obs_steps,
            proprio_dim=4, touch_dim=touch_dim, cnn_channels=tuple(f.cnn_channels), cnn_strides=tuple(f.cnn_strides),
            keypoints=f.keypoints,
            emb_dim=f.emb_dim,
        )  # fmt: skip
        unet = UNetConfig(
            latent_dim=t.latent_dim, latent_steps=tok.latent_steps, cond_dim=f.emb_dim,
            down_dims=tuple(f.down_dims), kernel_size=f.kernel_size, step_embed_dim=f.step_embed_dim,
        )  # fmt: skip
        diff = DiffusionConfig(
            num_train_timesteps=f.num_train_timesteps, inference_steps=f.inference_steps,
            streaming_chunks=f.streaming_chunks, streaming_ladder_prob=f.streaming_ladder_prob,
        )  # fmt: skip
        return cls(tok, obs, unet, diff, d.obs_stride, d.control_rate_hz)

    def build(self) -> tuple[AsymmetricTokenizer, ObsEncoder, ConditionalUnet1D]:
        return AsymmetricTokenizer(self.tokenizer), ObsEncoder(self.obs), ConditionalUnet1D(self.unet)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PolicySpec:
        def tup(d: dict[str, Any]) -> dict[str, Any]:
            return {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}

        return cls(
            tokenizer=TokenizerConfig(**data["tokenizer"]),
            obs=ObsEncoderConfig(**tup(data["obs"])),
            unet=UNetConfig(**tup(data["unet"])),
            diffusion=DiffusionConfig(**data["diffusion"]),
            obs_stride=data["obs_stride"],
            control_rate_hz=data["control_rate_hz"],
        )
