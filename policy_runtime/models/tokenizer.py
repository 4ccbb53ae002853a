"""Asymmetric action tokenizer of the Reactive Diffusion Policy (the fast head is its decoder).

Encoder (sees only the action chunk): Conv1d(a_dim->32, k5, s2) -> ReLU -> Conv1d(32->c, k5, s2) takes
H=32 steps to H/4 = 8 latent steps; a 1x1 conv gives mean and log-variance (Gaussian bottleneck,
8 x latent_dim); a 1x1 conv maps the latent back before decoding. Decoder (sees only the latent and
the newest touch): a one-layer GRU (hidden 32) + Linear(32->a_dim), run step by step; its per-step
input is the flattened latent concatenated with the normalized touch features of that tick.

Inputs/outputs here are *normalized* actions and touch; `policy_runtime.export` wraps the modules with
the normalizer so the ONNX graphs take and give physical units.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

# Initial log-variance of the posterior. With the tiny KL weight (1e-6) the encoder must drive the
# log-variance down before the sampled latent carries the chunk; starting at 0 (std 1 noise on a
# unit-scale latent) costs thousands of steps on a CPU, starting at -8 makes it train like an
# autoencoder from the first step while the KL term still regularizes it.
LOGVAR_INIT = -8.0


@dataclass(frozen=True)
class TokenizerConfig:
    """Sizes of the tokenizer (defaults follow the RDP paper)."""

    action_dim: int = 10
    horizon: int = 32
    touch_dim: int = 15
    enc_channels: int = 32
    latent_dim: int = 16
    gru_hidden: int = 32

    @property
    def latent_steps(self) -> int:
        return self.horizon // 4


class TokenizerEncoder(nn.Module):
    """Action chunk ``[B, H, a_dim]`` -> posterior mean and log-variance ``[B, H/4, latent_dim]`` each."""

    def __init__(self, cfg: TokenizerConfig) -> None:
        super().__init__()
        if cfg.horizon % 4:
            raise ValueError(f"tokenizer horizon must be a multiple of 4, got {cfg.horizon}")
        self.net = nn.Sequential(
            nn.Conv1d(cfg.action_dim, 32, 5, stride=2, padding=2),
            nn.ReLU(),
            nn.Conv1d(32, cfg.enc_channels, 5, stride=2, padding=2),
        )
        self.quant = nn.Conv1d(cfg.enc_channels, 2 * cfg.latent_dim, 1)
        with torch.no_grad():  # small initial posterior std (e^-4 = 0.02): see `LOGVAR_INIT`
            self.quant.bias[cfg.latent_dim :].fill_(LOGVAR_INIT)

    def forward(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.quant(self.net(actions.transpose(1, 2)))
        mean, logvar = h.chunk(2, dim=1)
        return mean.transpose(1, 2), logvar.clamp(-30.0, 20.0).transpose(1, 2)


class TokenizerDecoder(nn.Module):
    """Latent ``[B, L, D]`` + touch per tick -> actions, one GRU step per control tick."""

    def __init__(self, cfg: TokenizerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.post_quant = nn.Conv1d(cfg.latent_dim, cfg.latent_dim, 1)
        self.gru = nn.GRU(cfg.latent_steps * cfg.latent_dim + cfg.touch_dim, cfg.gru_hidden, batch_first=True)
        self.out = nn.Linear(cfg.gru_hidden, cfg.action_dim)

    def _latent_features(self, latent: torch.Tensor) -> torch.Tensor:
        return self.post_quant(latent.transpose(1, 2)).flatten(1)  # [B, D*L]

    def step(
        self, latent: torch.Tensor, touch: torch.Tensor, hidden: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One control tick: latent ``[B, L, D]``, touch ``[B, d]``, hidden ``[1, B, h]`` -> (action, hidden)."""
        x = torch.cat([self._latent_features(latent), touch], dim=-1).unsqueeze(1)
        y, hidden = self.gru(x, hidden)
        return self.out(y[:, 0]), hidden

    def forward(self, latent: torch.Tensor, touch: torch.Tensor) -> torch.Tensor:
        """Whole chunk: latent ``[B, L, D]``, touch per tick ``[B, T, d]`` -> actions ``[B, T, a_dim]``."""
        feats = self._latent_features(latent).unsqueeze(1).expand(-1, touch.shape[1], -1)
        y, _ = self.gru(torch.cat([feats, touch], dim=-1))
        return self.out(y)


class AsymmetricTokenizer(nn.Module):
    """Encoder + Gaussian bottleneck + decoder; `loss` is L1 reconstruction + kl_weight * KL."""

    def __init__(self, cfg: TokenizerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = TokenizerEncoder(cfg)
        self.decoder = TokenizerDecoder(cfg)

    def loss(
        self, actions: torch.Tensor, touch: torch.Tensor, kl_weight: float, generator: torch.Generator | None
    ) -> tuple[torch.Tensor, dict[str, float]]:
        mean, logvar = self.encoder(actions)
        eps = torch.randn(mean.shape, generator=generator, dtype=mean.dtype, device=mean.device)
        z = mean + torch.exp(0.5 * logvar) * eps
        recon = self.decoder(z, touch)
        l1 = (recon - actions).abs().mean()
        kl = 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=(1, 2)).mean()
        return l1 + kl_weight * kl, {"l1": float(l1.detach()), "kl": float(kl.detach())}

    @torch.no_grad()
    def reconstruct(self, actions: torch.Tensor, touch: torch.Tensor) -> torch.Tensor:
        """Decode the posterior mean (what the planner is trained to produce)."""
        mean, _ = self.encoder(actions)
        return self.decoder(mean, touch)
