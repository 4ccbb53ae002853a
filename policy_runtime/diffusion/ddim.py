"""Deterministic DDIM update with a noise level per position (numpy or torch arrays alike).

Hand-written rather than diffusers' `DDIMScheduler.step` because (1) streaming diffusion steps every
latent position from its own level, so alpha_t and alpha_prev are vectors, while diffusers takes one
scalar timestep per call; (2) the ONNX runtime path must run without torch/diffusers. For one shared
level it is the same eta=0 DDIM formula as diffusers (tested against it).
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np

Array = TypeVar("Array")


def level_alphas(levels: np.ndarray, table: np.ndarray, alphas_cumprod: np.ndarray) -> np.ndarray:
    """alpha_bar of each level (-1 = clean -> 1.0; k >= 0 -> alphas_cumprod[table[k]])."""
    levels = np.asarray(levels)
    out = np.ones(levels.shape, dtype=np.float64)
    noisy = levels >= 0
    out[noisy] = alphas_cumprod[table[levels[noisy]]]
    return out


def predict_x0(x: Array, eps: Array, alpha_t: Array) -> Array:
    """Clean-sample estimate from an epsilon prediction; alpha_t broadcasts against x."""
    return (x - (1.0 - alpha_t) ** 0.5 * eps) / alpha_t**0.5


def ddim_step(x: Array, eps: Array, alpha_t: Array, alpha_prev: Array) -> tuple[Array, Array]:
    """One eta=0 DDIM step from alpha_t to alpha_prev (per position). Returns (x_prev, x0_estimate)."""
    x0 = predict_x0(x, eps, alpha_t)
    return alpha_prev**0.5 * x0 + (1.0 - alpha_prev) ** 0.5 * eps, x0
