"""Streaming diffusion buffer invariants and the per-position DDIM step, with the real exported denoiser."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from policy_runtime.diffusion.ddim import ddim_step, level_alphas
from policy_runtime.diffusion.noise_regimes import sample_timesteps
from policy_runtime.diffusion.sampling import sample_ddim
from policy_runtime.diffusion.schedulers import DiffusionConfig, alphas_cumprod, level_timesteps, make_ddim_scheduler
from policy_runtime.engine.policy_engine import PolicyEngine
from policy_runtime.models.streaming import StreamingBuffer, ladder


class CountingDenoiser:
    """The real ONNX denoiser for one fixed observation embedding, counting calls and recording timesteps."""

    def __init__(self, engine: PolicyEngine, batch: int) -> None:
        self.engine = engine
        emb = np.random.default_rng(5).standard_normal((1, engine.bundle.shapes["emb_dim"])).astype(np.float32)
        self.emb = np.repeat(emb, batch, axis=0)
        self.calls: list[np.ndarray] = []

    def __call__(self, x: np.ndarray, t: np.ndarray) -> np.ndarray:
        self.calls.append(t.copy())
        return self.engine.eps(x, t, self.emb)


@pytest.fixture(scope="module")
def engine(bundle_dir: Path) -> PolicyEngine:
    return PolicyEngine(bundle_dir)


def test_ladder_levels_follow_the_formula() -> None:
    assert ladder(8, 4).tolist() == [1, 3, 5, 7]
    assert ladder(100, 4).tolist() == [24, 49, 74, 99]
    assert ladder(8, 1).tolist() == [7]


def test_buffer_invariants_over_observations(engine: PolicyEngine) -> None:
    table, acp = engine.table, engine.alphas_cumprod
    n, h = len(table), 4
    buf = StreamingBuffer(2, *engine.latent_shape, table, acp, h, np.random.default_rng(0))
    buf.reset()
    den = CountingDenoiser(engine, 2)
    assert buf.settle(den) == n - n // h
    assert buf.levels.tolist() == ladder(n, h).tolist()
    c = buf.chunk_len
    for _ in range(5):
        den.calls.clear()
        before = buf.x.copy()
        out = buf.observe(den)
        # exactly N/h evaluations, each on the whole buffer with a per-position timestep ladder
        assert out.evaluations == len(den.calls) == n // h
        first = den.calls[0][0]
        assert first.tolist() == table[np.repeat(ladder(n, h), c)].tolist()
        assert np.all(np.diff(first) >= 0)  # later chunks are noisier
        # one clean chunk out, equal to the denoised buffer's first chunk
        assert out.clean_chunk.shape == (2, c, engine.latent_shape[1])
        assert np.array_equal(out.clean_chunk, out.denoised[:, :c])
        assert np.array_equal(out.latent[:, :c], out.clean_chunk)
        assert not np.array_equal(out.denoised[:, :c], before[:, :c])
        # shift by one chunk, fresh noise at level N-1 at the end, ladder restored
        assert np.array_equal(buf.x[:, :-c], out.denoised[:, c:])
        assert not np.allclose(buf.x[:, -c:], out.denoised[:, -c:])
        assert buf.levels.tolist() == ladder(n, h).tolist()


def test_single_chunk_streaming_equals_full_ddim(engine: PolicyEngine) -> None:
    """h = 1: one observation runs all N levels and must reproduce full DDIM from the same noise."""
    table, acp = engine.table, engine.alphas_cumprod
    buf = StreamingBuffer(1, *engine.latent_shape, table, acp, 1, np.random.default_rng(3))
    buf.reset()
    noise = buf.x.copy()
    den = CountingDenoiser(engine, 1)
    out = buf.observe(den)
    assert out.evaluations == len(table)
    ref = sample_ddim(den, noise, table, acp)
    np.testing.assert_allclose(out.clean_chunk, ref, rtol=1e-5, atol=1e-5)


def test_bad_chunk_count_is_rejected(engine: PolicyEngine) -> None:
    with pytest.raises(ValueError, match="must divide"):
        StreamingBuffer(1, *engine.latent_shape, engine.table, engine.alphas_cumprod, 3, np.random.default_rng(0))


@pytest.mark.parametrize("steps", [8, 10, 100])
def test_ddim_step_matches_diffusers(steps: int) -> None:
    """For one shared level the hand-written per-position step equals diffusers' DDIMScheduler.step."""
    cfg = DiffusionConfig()
    sched = make_ddim_scheduler(cfg, steps)
    table, acp = level_timesteps(cfg, steps), alphas_cumprod(cfg)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 8, 16, generator=g)
    for level in (steps - 1, steps // 2, 0):
        eps = torch.randn(3, 8, 16, generator=g)
        ref = sched.step(eps, int(table[level]), x).prev_sample
        a_t, a_prev = level_alphas(np.array([level, level - 1]), table, acp)
        ours, _ = ddim_step(x.numpy(), eps.numpy(), a_t, a_prev)
        np.testing.assert_allclose(ours, ref.numpy(), rtol=1e-6, atol=1e-5)  # diffusers computes in float32


def test_default_levels_are_leading_spaced() -> None:
    table = level_timesteps(DiffusionConfig())
    assert table.tolist() == [0, 12, 24, 36, 48, 60, 72, 84]


def test_training_noise_regimes_mix_ladder_and_constant() -> None:
    g = torch.Generator().manual_seed(0)
    t = sample_timesteps(4000, 8, 4, 100, 0.8, g)
    assert t.min() >= 0 and t.max() <= 99
    constant = (t == t[:, :1]).all(dim=1)
    assert 0.15 < constant.float().mean() < 0.25  # 20% constant level (ladder rows are never constant)
    lad = t[~constant].reshape(-1, 4, 2)
    assert (lad[:, :, 0] == lad[:, :, 1]).all()  # one level per chunk
    offsets = torch.tensor([24, 49, 74, 99]) - lad[:, :, 0]
    assert (offsets == offsets[:, :1]).all() and offsets.min() == 0 and offsets.max() == 24
