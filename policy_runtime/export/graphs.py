"""The exported graphs as torch modules, with the normalizer baked in (physical units in and out).

Every graph takes raw units (uint8 images, metres, touch features as published) and returns raw
units (TCP-relative actions); the latent exchanged between the denoiser and the decoder is the
normalized latent the diffusion model works in. These wrappers are also the torch-eager reference
that the ONNX parity tests and the benchmark compare against.
"""

from __future__ import annotations

import torch
from torch import nn

from policy_runtime.models.obs_encoder import ObsEncoder
from policy_runtime.models.tokenizer import TokenizerDecoder, TokenizerEncoder
from policy_runtime.models.unet1d import ConditionalUnet1D
from policy_runtime.training.normalizer import Normalizer


class _Affine(nn.Module):
    def __init__(self, norm: Normalizer, name: str) -> None:
        super().__init__()
        self.register_buffer("mean", torch.from_numpy(norm.fields[name].mean.copy()))
        self.register_buffer("std", torch.from_numpy(norm.fields[name].std.copy()))

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def unnormalize(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.std + self.mean


class ObsEncoderGraph(nn.Module):
    """(img_<cam> uint8 [B, To, H, W, 3] per camera..., proprio [B, To, 4], touch [B, To, d]) -> obs_emb [B, E]."""

    def __init__(self, encoder: ObsEncoder, norm: Normalizer) -> None:
        super().__init__()
        self.encoder = encoder
        self.cameras = list(encoder.cfg.cameras)
        self.proprio = _Affine(norm, "proprio")
        self.touch = _Affine(norm, "touch")

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        n = len(self.cameras)
        images = dict(zip(self.cameras, args[:n], strict=True))
        return self.encoder(images, self.proprio.normalize(args[n]), self.touch.normalize(args[n + 1]))


class DenoiserGraph(nn.Module):
    """(sample [B, L, D], timestep float [B, L], obs_emb [B, E]) -> eps [B, L, D]."""

    def __init__(self, unet: ConditionalUnet1D) -> None:
        super().__init__()
        self.unet = unet

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor, obs_emb: torch.Tensor) -> torch.Tensor:
        return self.unet(sample, timestep, obs_emb)


class DecoderStepGraph(nn.Module):
    """(latent [B, L, D], touch [B, d], hidden [1, B, h]) -> (action [B, 10], hidden_out [1, B, h])."""

    def __init__(self, decoder: TokenizerDecoder, norm: Normalizer) -> None:
        super().__init__()
        self.decoder = decoder
        self.latent = _Affine(norm, "latent")
        self.touch = _Affine(norm, "touch")
        self.action = _Affine(norm, "action")

    def forward(
        self, latent: torch.Tensor, touch: torch.Tensor, hidden: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        a, h = self.decoder.step(self.latent.unnormalize(latent), self.touch.normalize(touch), hidden)
        return self.action.unnormalize(a), h


class DecoderChunkGraph(nn.Module):
    """(latent [B, L, D], touch [B, T, d]) -> actions [B, T, 10], from a zero hidden state."""

    def __init__(self, decoder: TokenizerDecoder, norm: Normalizer) -> None:
        super().__init__()
        self.decoder = decoder
        self.latent = _Affine(norm, "latent")
        self.touch = _Affine(norm, "touch")
        self.action = _Affine(norm, "action")

    def forward(self, latent: torch.Tensor, touch: torch.Tensor) -> torch.Tensor:
        return self.action.unnormalize(self.decoder(self.latent.unnormalize(latent), self.touch.normalize(touch)))


class TokenizerEncoderGraph(nn.Module):
    """(actions [B, H, 10] TCP-relative) -> latent [B, L, D] (normalized posterior mean)."""

    def __init__(self, encoder: TokenizerEncoder, norm: Normalizer) -> None:
        super().__init__()
        self.encoder = encoder
        self.action = _Affine(norm, "action")
        self.latent = _Affine(norm, "latent")

    def forward(self, actions: torch.Tensor) -> torch.Tensor:
        return self.latent.normalize(self.encoder(self.action.normalize(actions))[0])
