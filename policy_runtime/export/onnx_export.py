"""Export a training checkpoint to a policy bundle: five ONNX graphs + bundle.json.

Uses torch's TorchScript-based exporter (``dynamo=False``): the torch.export-based default needs
the `onnxscript` package and gains nothing for these small static graphs. Batch (and the decoder
chunk's step count) are dynamic axes, so the denoiser runs B sampled chunks in one call.
"""

from __future__ import annotations

import io
import json
import shutil
import time
import warnings
from pathlib import Path
from typing import Any

import onnx
import torch
from tqdm import tqdm

from policy_runtime.diffusion.schedulers import alphas_cumprod, level_timesteps
from policy_runtime.engine.bundle import MANIFEST, SCHEMA, SCHEMA_VERSION, TensorSpec, load_bundle, sha256_file
from policy_runtime.export.graphs import (
    DecoderChunkGraph,
    DecoderStepGraph,
    DenoiserGraph,
    ObsEncoderGraph,
    TokenizerEncoderGraph,
)
from policy_runtime.models.action_space import A_DIM
from policy_runtime.training.spec import PolicySpec
from policy_runtime.training.trainer import load_trained_models

OPSET = 17


def graph_io(spec: PolicySpec) -> dict[str, tuple[list[TensorSpec], list[TensorSpec]]]:
    """Input/output specs of every graph ("B" = batch, "T" = decoded steps: dynamic axes)."""
    o, t, u = spec.obs, spec.tokenizer, spec.unet
    h, w = o.image_size
    lat = ("B", u.latent_steps, u.latent_dim)
    f32 = "float32"
    return {
        "obs_encoder": (
            [TensorSpec(f"img_{c}", "uint8", ("B", o.obs_steps, h, w, 3)) for c in o.cameras]
            + [
                TensorSpec("proprio", f32, ("B", o.obs_steps, o.proprio_dim)),
                TensorSpec("touch", f32, ("B", o.obs_steps, o.touch_dim)),
            ],
            [TensorSpec("obs_emb", f32, ("B", o.emb_dim))],
        ),
        "denoiser": (
            [
                TensorSpec("sample", f32, lat),
                TensorSpec("timestep", f32, ("B", u.latent_steps)),
                TensorSpec("obs_emb", f32, ("B", u.cond_dim)),
            ],
            [TensorSpec("eps", f32, lat)],
        ),
        "decoder_step": (
            [
                TensorSpec("latent", f32, lat),
                TensorSpec("touch", f32, ("B", t.touch_dim)),
                TensorSpec("hidden", f32, (1, "B", t.gru_hidden)),
            ],
            [TensorSpec("action", f32, ("B", A_DIM)), TensorSpec("hidden_out", f32, (1, "B", t.gru_hidden))],
        ),
        "decoder_chunk": (
            [TensorSpec("latent", f32, lat), TensorSpec("touch", f32, ("B", "T", t.touch_dim))],
            [TensorSpec("actions", f32, ("B", "T", A_DIM))],
        ),
        "tokenizer_encoder": (
            [TensorSpec("actions", f32, ("B", t.horizon, A_DIM))],
            [TensorSpec("latent", f32, lat)],
        ),
    }


def example_inputs(
    specs: list[TensorSpec], batch: int = 2, steps: int | None = None, seed: int = 0
) -> list[torch.Tensor]:
    """Random inputs matching specs (uint8 images in [0, 255], floats ~N(0, 1))."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for s in specs:
        shape = [batch if d == "B" else (steps or 4) if d == "T" else d for d in s.shape]
        if s.dtype == "uint8":
            out.append(torch.randint(0, 256, shape, generator=g, dtype=torch.uint8))
        else:
            out.append(torch.randn(shape, generator=g))
    return out


def build_graph_modules(checkpoint: str | Path) -> tuple[PolicySpec, dict[str, torch.nn.Module], dict[str, Any]]:
    """Torch modules of every exported graph (EMA weights for the planner), in eval mode."""
    spec, norm, tokenizer, obs_encoder, unet, state = load_trained_models(checkpoint)
    modules = {
        "obs_encoder": ObsEncoderGraph(obs_encoder, norm),
        "denoiser": DenoiserGraph(unet),
        "decoder_step": DecoderStepGraph(tokenizer.decoder, norm),
        "decoder_chunk": DecoderChunkGraph(tokenizer.decoder, norm),
        "tokenizer_encoder": TokenizerEncoderGraph(tokenizer.encoder, norm),
    }
    for m in modules.values():
        m.eval()
    return spec, modules, {"state": state, "normalizer": norm.to_json()}


def export_graph(module: torch.nn.Module, inputs: list[TensorSpec], outputs: list[TensorSpec], path: Path) -> None:
    dynamic: dict[str, dict[int, str]] = {}
    for s in (*inputs, *outputs):
        axes = {i: d for i, d in enumerate(s.shape) if isinstance(d, str)}
        if axes:
            dynamic[s.name] = axes
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation and GRU batch notes
        torch.onnx.export(
            module,
            tuple(example_inputs(inputs)),
            buf,
            dynamo=False,
            input_names=[s.name for s in inputs],
            output_names=[s.name for s in outputs],
            dynamic_axes=dynamic,
            opset_version=OPSET,
            do_constant_folding=True,
        )
    model = onnx.load_from_string(buf.getvalue())
    onnx.checker.check_model(model)
    path.write_bytes(buf.getvalue())


def export_bundle(checkpoint: str | Path, out_dir: str | Path, progress: bool = True) -> Path:
    """Write the bundle for a checkpoint into ``out_dir`` (replaced atomically) and verify it by loading it."""
    checkpoint, out_dir = Path(checkpoint), Path(out_dir)
    spec, modules, extra = build_graph_modules(checkpoint)
    io_specs = graph_io(spec)
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    graphs = {}
    for name in tqdm(list(modules), desc="export onnx", disable=not progress):
        inputs, outputs = io_specs[name]
        path = tmp / f"{name}.onnx"
        export_graph(modules[name], inputs, outputs, path)
        graphs[name] = {
            "file": path.name,
            "bytes": path.stat().st_size,
            "sha256": sha256_file(path),
            "inputs": [s.to_json() for s in inputs],
            "outputs": [s.to_json() for s in outputs],
        }
    state = extra["state"]
    d = spec.diffusion
    manifest = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "created_unix": time.time(),
        "source_checkpoint": str(checkpoint.resolve()),
        "training": {
            "tokenizer_step": state["tokenizer_step"],
            "diffusion_step": state["diffusion_step"],
            "dataset": state.get("dataset"),
        },
        "graphs": graphs,
        "shapes": {
            "cameras": list(spec.obs.cameras),
            "image_size": list(spec.obs.image_size),
            "image_resize": "cv2.INTER_AREA from the camera image, RGB uint8",
            "obs_steps": spec.obs.obs_steps,
            "obs_stride": spec.obs_stride,
            "proprio": ["tcp_x", "tcp_y", "tcp_z", "gripper_width"],
            "touch_dim": spec.tokenizer.touch_dim,
            "horizon": spec.tokenizer.horizon,
            "action_dim": A_DIM,
            "latent_steps": spec.unet.latent_steps,
            "latent_dim": spec.unet.latent_dim,
            "gru_hidden": spec.tokenizer.gru_hidden,
            "emb_dim": spec.obs.emb_dim,
        },
        "action": {
            "frame": "relative to the TCP pose measured at the observation the chunk was planned from",
            "layout": ["dx", "dy", "dz", "r11", "r21", "r31", "r12", "r22", "r32", "gripper_width"],
            "convert": "policy_runtime.models.action_space.relative_to_absolute",
        },
        "rates": {
            "control_hz": spec.control_rate_hz,
            "obs_hz": spec.control_rate_hz / spec.obs_stride,
        },
        "diffusion": {
            "num_train_timesteps": d.num_train_timesteps,
            "beta_schedule": d.beta_schedule,
            "prediction_type": d.prediction_type,
            "inference_steps": d.inference_steps,
            "level_timesteps": level_timesteps(d).tolist(),
            "alphas_cumprod": alphas_cumprod(d).tolist(),
            "streaming_chunks": d.streaming_chunks,
        },
        "normalizer": {"applied_in_graphs": True, "fields": extra["normalizer"]},
    }
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1))
    load_bundle(tmp)  # refuse to publish a bundle that does not verify
    old = out_dir.with_name(out_dir.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if out_dir.exists():
        out_dir.rename(old)
    tmp.rename(out_dir)
    shutil.rmtree(old, ignore_errors=True)
    return out_dir
