"""1-D conditional UNet with FiLM over the latent sequence, with a per-position diffusion timestep.

Follows diffusion policy's ConditionalUnet1D (residual conv blocks, GroupNorm, Mish, FiLM scale and
bias from the conditioning) with one change for Streaming Diffusion Policy: the timestep is a vector
``[B, L]`` (one noise level per latent position). Each position gets its own sinusoidal embedding ->
MLP, concatenated with the observation embedding; FiLM is then applied per position (a 1x1 conv over
the conditioning map), and the conditioning map is average-pooled to each UNet level's length. A
scalar timestep per sample (``[B]``) broadcasts to every position, which is plain diffusion.
Default dims (64, 128) are small for a CPU (upstream: 512/1024/2048).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class UNetConfig:
    """Sizes of the denoiser."""

    latent_dim: int = 16
    latent_steps: int = 8
    cond_dim: int = 128  # observation embedding size
    down_dims: tuple[int, ...] = (64, 128)
    kernel_size: int = 3
    step_embed_dim: int = 128
    n_groups: int = 8


def sinusoidal_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Timesteps of any shape -> ``[*t.shape, dim]`` sinusoidal features."""
    half = dim // 2
    freqs = torch.exp(torch.arange(half, dtype=torch.float32, device=t.device) * (-math.log(10000.0) / (half - 1)))
    args = t.to(torch.float32).unsqueeze(-1) * freqs
    return torch.cat([args.sin(), args.cos()], dim=-1)


class Conv1dBlock(nn.Sequential):
    def __init__(self, cin: int, cout: int, k: int, groups: int) -> None:
        super().__init__(nn.Conv1d(cin, cout, k, padding=k // 2), nn.GroupNorm(groups, cout), nn.Mish())


class FiLMResBlock(nn.Module):
    """Two conv blocks; the first is modulated per position by FiLM (scale, bias) from the conditioning map."""

    def __init__(self, cin: int, cout: int, cond_dim: int, k: int, groups: int) -> None:
        super().__init__()
        self.block1 = Conv1dBlock(cin, cout, k, groups)
        self.block2 = Conv1dBlock(cout, cout, k, groups)
        self.film = nn.Sequential(nn.Mish(), nn.Conv1d(cond_dim, 2 * cout, 1))
        self.residual = nn.Conv1d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        scale, bias = self.film(cond).chunk(2, dim=1)
        h = self.block1(x) * scale + bias
        return self.block2(h) + self.residual(x)


class ConditionalUnet1D(nn.Module):
    """(noisy latent ``[B, L, D]``, timesteps ``[B]`` or ``[B, L]``, obs_emb ``[B, E]``) -> eps ``[B, L, D]``."""

    def __init__(self, cfg: UNetConfig) -> None:
        super().__init__()
        levels = len(cfg.down_dims)
        if cfg.latent_steps % (2 ** (levels - 1)):
            raise ValueError(f"latent_steps {cfg.latent_steps} must be divisible by 2^{levels - 1} for {levels} levels")
        self.cfg = cfg
        sd = cfg.step_embed_dim
        self.step_mlp = nn.Sequential(nn.Linear(sd, 4 * sd), nn.Mish(), nn.Linear(4 * sd, sd))
        cdim = sd + cfg.cond_dim
        dims = [cfg.latent_dim, *cfg.down_dims]
        k, g = cfg.kernel_size, cfg.n_groups
        self.down = nn.ModuleList()
        for i, (cin, cout) in enumerate(itertools.pairwise(dims)):
            last = i == levels - 1
            self.down.append(
                nn.ModuleList(
                    [
                        FiLMResBlock(cin, cout, cdim, k, g),
                        FiLMResBlock(cout, cout, cdim, k, g),
                        nn.Conv1d(cout, cout, 3, stride=2, padding=1) if not last else nn.Identity(),
                    ]
                )
            )
        mid = cfg.down_dims[-1]
        self.mid = nn.ModuleList([FiLMResBlock(mid, mid, cdim, k, g), FiLMResBlock(mid, mid, cdim, k, g)])
        self.up = nn.ModuleList()
        rev = list(reversed(cfg.down_dims))
        for cin, cout in itertools.pairwise(rev):
            self.up.append(
                nn.ModuleList(
                    [
                        FiLMResBlock(2 * cin, cout, cdim, k, g),
                        FiLMResBlock(cout, cout, cdim, k, g),
                        nn.ConvTranspose1d(cout, cout, 4, stride=2, padding=1),
                    ]
                )
            )
        self.final = nn.Sequential(
            Conv1dBlock(cfg.down_dims[0], cfg.down_dims[0], k, g), nn.Conv1d(cfg.down_dims[0], cfg.latent_dim, 1)
        )

    def forward(self, sample: torch.Tensor, timesteps: torch.Tensor, obs_emb: torch.Tensor) -> torch.Tensor:
        b, length, _ = sample.shape
        if timesteps.dim() == 0:
            timesteps = timesteps.expand(b)
        if timesteps.dim() == 1:
            timesteps = timesteps.unsqueeze(1).expand(b, length)
        t_emb = self.step_mlp(sinusoidal_embedding(timesteps, self.cfg.step_embed_dim))  # [B, L, sd]
        cond = torch.cat([t_emb, obs_emb.unsqueeze(1).expand(-1, length, -1)], dim=-1).transpose(1, 2)
        conds = [cond]
        for _ in range(len(self.down) - 1):
            conds.append(F.avg_pool1d(conds[-1], 2))

        x = sample.transpose(1, 2)
        skips = []
        for level, (res1, res2, downsample) in enumerate(self.down):
            x = res2(res1(x, conds[level]), conds[level])
            skips.append(x)
            x = downsample(x)
        for block in self.mid:
            x = block(x, conds[-1])
        for i, (res1, res2, upsample) in enumerate(self.up):
            level = len(self.down) - 1 - i
            x = torch.cat([x, skips.pop()], dim=1)
            x = res2(res1(x, conds[level]), conds[level])
            x = upsample(x)
        return self.final(x).transpose(1, 2)
