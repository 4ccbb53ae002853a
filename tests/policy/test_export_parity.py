"""Every exported ONNX graph matches its torch module within 1e-4 (fp32), including the denoiser's dynamic batch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from policy_runtime.engine.bundle import load_bundle
from policy_runtime.engine.policy_engine import PolicyEngine, fast_head_step, planner_step
from policy_runtime.export.onnx_export import build_graph_modules, example_inputs, graph_io
from policy_runtime.training.dataset import load_dataset

TOL = 1e-4


@pytest.fixture(scope="module")
def modules(checkpoint: Path):
    return build_graph_modules(checkpoint)


def _realistic(name: str, inputs, batch: int, dataset_chunks: np.ndarray, seed: int) -> list[torch.Tensor]:
    x = example_inputs(inputs, batch=batch, steps=32, seed=seed)
    if name == "tokenizer_encoder":  # raw TCP-relative chunks at their real scale (metres, rot6d, width)
        x = [torch.from_numpy(dataset_chunks[seed : seed + batch].copy())]
    return x


@pytest.mark.parametrize("graph", ["obs_encoder", "denoiser", "decoder_step", "decoder_chunk", "tokenizer_encoder"])
def test_onnx_matches_torch(graph: str, modules, bundle_dir: Path, dataset: Path) -> None:
    spec, mods, _ = modules
    inputs, outputs = graph_io(spec)[graph]
    bundle = load_bundle(bundle_dir, check_graphs=False)
    session = ort.InferenceSession(str(bundle.graphs[graph].path), providers=["CPUExecutionProvider"])
    chunks = load_dataset(dataset, None, (24, 32), "touch", 32, 2, 2).action_chunks
    for batch in (1, 7):
        x = _realistic(graph, inputs, batch, chunks, seed=batch)
        with torch.no_grad():
            ref = mods[graph](*x)
        ref = ref if isinstance(ref, tuple) else (ref,)
        got = session.run(None, {s.name: v.numpy() for s, v in zip(inputs, x, strict=True)})
        assert len(got) == len(outputs)
        for g, r, s in zip(got, ref, outputs, strict=True):
            assert g.shape == tuple(r.shape), (graph, s.name)
            err = float(np.abs(g - r.numpy()).max())
            assert err <= TOL, f"{graph}.{s.name} B={batch}: max |onnx - torch| = {err:.2e}"


def test_fast_head_replay_matches_chunk_decode(bundle_dir: Path) -> None:
    """Stepping the IO-bound fast head tick by tick gives the same actions as decoding the whole chunk."""
    engine = PolicyEngine(bundle_dir)
    rng = np.random.default_rng(0)
    latent = rng.standard_normal(engine.latent_shape).astype(np.float32)
    d = engine.bundle.shapes["touch_dim"]
    touch = rng.standard_normal((12, d)).astype(np.float32) * 0.3
    chunk = engine.decode_chunk(latent[None], touch[None])[0]
    head = engine.fast_head()
    head.start(latent, touch[:5])  # latency compensation: replay 5 ticks since the observation
    assert head.ticks == 5
    stepped = np.stack([head.step(t).copy() for t in touch[5:]])
    np.testing.assert_allclose(stepped, chunk[5:], atol=1e-5)
    # the pure one-tick function agrees with the stateful head
    hidden = np.zeros((1, 1, engine.bundle.shapes["gru_hidden"]), np.float32)
    for t in range(3):
        a, hidden = fast_head_step(head.graph, latent, touch[t], hidden)
        np.testing.assert_allclose(a, chunk[t], atol=1e-5)
    # new touch changes the action (the head is reactive), same touch reproduces it
    head.start(latent)
    a1 = head.step(touch[0]).copy()
    head.start(latent)
    assert np.array_equal(head.step(touch[0]), a1)
    head.start(latent)
    assert not np.allclose(head.step(touch[0] + 1.0), a1)
    # restep: the last step again from the state before it; a decode with touch[1] at step 0, then restep with
    # touch[0], is the chunk's step 0, and the next step continues the chunk as if touch[0] had come first
    head.start(latent)
    head.step(touch[1])
    np.testing.assert_allclose(head.restep(touch[0]), chunk[0], atol=1e-5)
    assert head.ticks == 1
    np.testing.assert_allclose(head.step(touch[1]), chunk[1], atol=1e-5)
    # warm: the next step's decode on scratch buffers. It computes what that step would (so it runs the real
    # graph on the real data) and leaves the chunk exactly where it was.
    head.start(latent)
    head.step(touch[0])
    state = (head.hidden.copy(), head.hidden_prev.copy(), head.action.copy(), head.ticks)
    np.testing.assert_allclose(head.warm(), fast_head_step(head.graph, latent, touch[0], head.hidden)[0], atol=1e-6)
    assert np.array_equal(head.hidden, state[0]) and np.array_equal(head.hidden_prev, state[1])
    assert np.array_equal(head.action, state[2]) and head.ticks == state[3]
    np.testing.assert_allclose(head.step(touch[1]), chunk[1], atol=1e-5)


def test_planner_step_batches_samples(bundle_dir: Path) -> None:
    engine = PolicyEngine(bundle_dir)
    s = engine.bundle.shapes
    rng = np.random.default_rng(1)
    images = {c: rng.integers(0, 256, (s["obs_steps"], *s["image_size"], 3), dtype=np.uint8) for c in engine.cameras}
    proprio = rng.standard_normal((s["obs_steps"], 4)).astype(np.float32) * 0.1
    touch = rng.standard_normal((s["obs_steps"], s["touch_dim"])).astype(np.float32)
    full = planner_step(engine, images, proprio, touch, np.random.default_rng(7), num_samples=5)
    assert full.latents.shape == (5, *engine.latent_shape)
    assert full.sampled_actions.shape == (5, s["horizon"], 10)
    assert full.evaluations == len(engine.table)
    assert np.all(np.isfinite(full.sampled_actions))
    assert not np.allclose(full.latents[0], full.latents[1])  # different noise -> different samples
    again = planner_step(engine, images, proprio, touch, np.random.default_rng(7), num_samples=5)
    assert np.array_equal(again.latents, full.latents)  # seeded: reproducible
    stream = engine.streaming_buffer(1, np.random.default_rng(2))
    st = planner_step(engine, images, proprio, touch, rng, stream=stream)
    assert st.evaluations == len(engine.table) // stream.chunks
