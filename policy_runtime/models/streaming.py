"""Streaming Diffusion Policy buffer over the latent sequence (numpy; denoiser is any callable).

The buffer holds the L-step latent in h chunks of L/h steps. Chunk i sits at level
``k_i = floor(N (i + 1) / h) - 1`` of the N inference levels (N = DDIM steps, level -1 = clean).
`observe` runs N/h denoiser evaluations on the whole buffer with a per-position timestep, each
stepping every position down one level (per-position DDIM), so the first chunk ends clean; it is
emitted, the buffer shifts by one chunk and fresh Gaussian noise enters at level N-1.

Deviation from SDP, for RDP's latent: the tokenizer decoder reads the whole flattened latent, so
what is emitted for decoding is the clean first chunk followed by the denoiser's clean estimate (x0)
of the later chunks from the last evaluation. Actions are TCP-relative, so after a shift the older
chunks are expressed in the previous observation's TCP frame; they still carry noise at least at
level N/h - 1, and every evaluation re-conditions on the new observation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from policy_runtime.diffusion.ddim import ddim_step, level_alphas
from policy_runtime.diffusion.sampling import EpsFn


def ladder(num_levels: int, chunks: int) -> np.ndarray:
    """Level of each chunk of a settled buffer: ``floor(N (i + 1) / h) - 1``."""
    return np.array([num_levels * (i + 1) // chunks - 1 for i in range(chunks)], dtype=np.int64)


@dataclass
class StreamOutput:
    """What one observation yields."""

    latent: np.ndarray  # [B, L, D]: clean first chunk + x0 estimate of the rest (decode this)
    clean_chunk: np.ndarray  # [B, L/h, D]
    denoised: np.ndarray  # [B, L, D]: the buffer after this observation's evaluations, before the shift
    evaluations: int


class StreamingBuffer:
    """Rolling partially-denoised latent buffer; one `observe` call per planner observation."""

    def __init__(
        self,
        batch: int,
        latent_steps: int,
        latent_dim: int,
        table: np.ndarray,
        alphas_cumprod: np.ndarray,
        chunks: int,
        rng: np.random.Generator,
    ) -> None:
        n = len(table)
        if latent_steps % chunks or n % chunks:
            raise ValueError(f"streaming chunks h={chunks} must divide latent_steps={latent_steps} and N={n}")
        self.table = np.asarray(table, dtype=np.int64)
        self.alphas_cumprod = np.asarray(alphas_cumprod, dtype=np.float64)
        self.num_levels, self.chunks, self.chunk_len = n, chunks, latent_steps // chunks
        self.rng = rng
        self.shape = (batch, latent_steps, latent_dim)
        self.x = np.empty(self.shape, dtype=np.float32)
        self.levels = np.empty(chunks, dtype=np.int64)
        self.settled = False
        self._t = np.empty((batch, latent_steps), dtype=np.float32)

    def reset(self) -> None:
        """All positions pure noise at level N-1; the next `observe` first settles the ladder."""
        self.x[:] = self.rng.standard_normal(self.shape, dtype=np.float32)
        self.levels[:] = self.num_levels - 1
        self.settled = False

    def position_levels(self) -> np.ndarray:
        return np.repeat(self.levels, self.chunk_len)

    def _evaluate(self, eps_fn: EpsFn, step_mask: np.ndarray) -> np.ndarray:
        """One denoiser call on the whole buffer; chunks in `step_mask` step down one level. Returns x0."""
        pos_levels = self.position_levels()
        self._t[:] = self.table[np.maximum(pos_levels, 0)]
        eps = eps_fn(self.x, self._t)
        pos_mask = np.repeat(step_mask, self.chunk_len)
        a_t = level_alphas(pos_levels, self.table, self.alphas_cumprod)
        a_prev = level_alphas(np.where(pos_mask, pos_levels - 1, pos_levels), self.table, self.alphas_cumprod)
        x_prev, x0 = ddim_step(self.x, eps, a_t[None, :, None], a_prev[None, :, None])
        self.x[:] = np.where(pos_mask[None, :, None], x_prev, self.x)
        self.levels -= step_mask
        return x0.astype(np.float32)

    def settle(self, eps_fn: EpsFn) -> int:
        """From all-noise, denoise each chunk down to its ladder level (N - N/h evaluations)."""
        target = ladder(self.num_levels, self.chunks)
        n = 0
        while np.any(self.levels > target):
            self._evaluate(eps_fn, (self.levels > target).astype(np.int64))
            n += 1
        self.settled = True
        return n

    def observe(self, eps_fn: EpsFn) -> StreamOutput:
        """N/h evaluations (after the ladder is settled), emit the clean first chunk, shift, append noise."""
        if not self.settled:
            self.settle(eps_fn)
        steps = self.num_levels // self.chunks
        step_all = np.ones(self.chunks, dtype=np.int64)
        x0 = self.x
        for _ in range(steps):
            x0 = self._evaluate(eps_fn, step_all)
        if self.levels[0] != -1:  # invariant of the ladder; a failure here is a bug, not bad input
            raise RuntimeError(f"streaming buffer: first chunk at level {self.levels[0]} after {steps} steps")
        c = self.chunk_len
        latent = x0.copy()
        latent[:, :c] = self.x[:, :c]
        out = StreamOutput(latent, self.x[:, :c].copy(), self.x.copy(), steps)
        self.x[:, :-c] = self.x[:, c:].copy()
        self.x[:, -c:] = self.rng.standard_normal((self.shape[0], c, self.shape[2]), dtype=np.float32)
        self.levels[:-1] = self.levels[1:].copy()
        self.levels[-1] = self.num_levels - 1
        return out
