"""Full DDIM sampling over the level table (numpy; the denoiser is any callable: ONNX session or torch)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from policy_runtime.diffusion.ddim import ddim_step, level_alphas

# eps_fn(x [B, L, D] float32, timesteps [B, L] float32) -> eps [B, L, D]; the observation is bound in the closure.
EpsFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def sample_ddim(eps_fn: EpsFn, x: np.ndarray, table: np.ndarray, alphas_cumprod: np.ndarray) -> np.ndarray:
    """Denoise ``x`` (pure noise at level N-1) through all N levels: N denoiser evaluations."""
    x = x.astype(np.float32, copy=True)
    b, length, _ = x.shape
    t = np.empty((b, length), dtype=np.float32)
    for level in range(len(table) - 1, -1, -1):
        a_t, a_prev = level_alphas(np.array([level, level - 1]), table, alphas_cumprod)
        t.fill(table[level])
        eps = eps_fn(x, t)
        x, _ = ddim_step(x, eps, np.float32(a_t), np.float32(a_prev))
        x = x.astype(np.float32, copy=False)
    return x
