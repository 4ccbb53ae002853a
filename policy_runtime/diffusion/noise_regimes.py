"""Training timesteps for Streaming Diffusion Policy: per-chunk noise ladder mixed with a constant level.

With probability `ladder_prob` a sample gets the ladder: chunk i of h carries
``floor(T (i + 1) / h) - 1 - j`` with one random offset j in [0, T/h) per sample; otherwise every
position gets one uniform level (plain diffusion policy). Returns timesteps ``[B, L]``.
"""

from __future__ import annotations

import torch


def ladder_levels(num_levels: int, chunks: int) -> torch.Tensor:
    """Level of each chunk: ``floor(N (i + 1) / h) - 1``."""
    return torch.tensor([num_levels * (i + 1) // chunks - 1 for i in range(chunks)], dtype=torch.long)


def sample_timesteps(
    batch: int,
    latent_steps: int,
    chunks: int,
    num_train_timesteps: int,
    ladder_prob: float,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Per-position training timesteps ``[B, L]`` (long)."""
    if latent_steps % chunks or num_train_timesteps % chunks:
        raise ValueError(
            f"streaming chunks h={chunks} must divide latent_steps={latent_steps} "
            f"and num_train_timesteps={num_train_timesteps}"
        )
    per_chunk = latent_steps // chunks
    ladder = ladder_levels(num_train_timesteps, chunks).repeat_interleave(per_chunk)  # [L]
    offset = torch.randint(0, num_train_timesteps // chunks, (batch, 1), generator=generator)
    constant = torch.randint(0, num_train_timesteps, (batch, 1), generator=generator)
    use_ladder = torch.rand(batch, 1, generator=generator) < ladder_prob
    return torch.where(use_ladder, ladder.unsqueeze(0) - offset, constant.expand(batch, latent_steps))
