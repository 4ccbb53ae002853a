"""Random network distillation (RND) out-of-distribution score on the policy's observation embedding.

A frozen, randomly initialised target MLP maps a (normalized) embedding to a feature vector; a deeper
predictor MLP is trained to reproduce it on in-distribution embeddings only (the training demos). The
score is the mean squared prediction error: small where the predictor has seen data, large elsewhere.
Both MLPs use orthogonal initialisation with gain sqrt(2) and ReLU, as upstream.

Deviation from upstream (widths 1024/2048/4096): smaller defaults (target 256 -> 64, predictor
256-256-256 -> 64) so training takes seconds on a 2-core CPU; the embedding is standardized with the
training mean/std inside the graph. Torch is used to train only: the trained pair is written as one ONNX
graph (embedding [N, D] -> score [N]) and scored at run time with onnxruntime (`RNDOnnxScorer`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

ONNX_OPSET = 17
INPUT_NAME = "embedding"
OUTPUT_NAME = "score"
_STD_FLOOR = 1e-6


@dataclass(frozen=True)
class RNDConfig:
    """Network sizes and training schedule of the RND pair."""

    target_hidden: tuple[int, ...] = (256,)
    predictor_hidden: tuple[int, ...] = (256, 256, 256)
    out_dim: int = 64
    steps: int = 1500
    batch_size: int = 256
    lr: float = 1e-3
    seed: int = 0

    def __post_init__(self) -> None:
        if len(self.predictor_hidden) <= len(self.target_hidden):
            raise ValueError("the RND predictor must be deeper than the target (more hidden layers)")
        if min((*self.target_hidden, *self.predictor_hidden, self.out_dim, self.steps, self.batch_size)) < 1:
            raise ValueError(f"RND sizes and steps must be >= 1: {self}")

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["target_hidden"] = list(self.target_hidden)
        d["predictor_hidden"] = list(self.predictor_hidden)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RNDConfig:
        d = dict(d)
        d["target_hidden"] = tuple(d.get("target_hidden", cls.target_hidden))
        d["predictor_hidden"] = tuple(d.get("predictor_hidden", cls.predictor_hidden))
        return cls(**d)


def check_embeddings(x: np.ndarray, dim: int | None = None, what: str = "embeddings") -> np.ndarray:
    """Validate embeddings [N, D] (finite; D == dim when given); return float32."""
    a = np.asarray(x, dtype=np.float32)
    if a.ndim != 2 or a.shape[1] < 1:
        raise ValueError(f"{what} must have shape [N, D], got {a.shape}")
    if dim is not None and a.shape[1] != dim:
        raise ValueError(f"{what} have dimension {a.shape[1]}, the monitor expects {dim}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{what} contain {int(np.sum(~np.isfinite(a)))} non-finite value(s)")
    return a


# ---------------------------------------------------------------------------- torch (training only)
def _mlp(in_dim: int, hidden: tuple[int, ...], out_dim: int):
    import torch.nn as nn

    layers: list[nn.Module] = []
    d = in_dim
    for h in hidden:
        layers += [nn.Linear(d, h), nn.ReLU()]
        d = h
    layers.append(nn.Linear(d, out_dim))
    net = nn.Sequential(*layers)
    for m in net:
        if isinstance(m, nn.Linear):
            nn.init.orthogonal_(m.weight, gain=math.sqrt(2.0))
            nn.init.zeros_(m.bias)
    return net


def build_rnd(in_dim: int, mean: np.ndarray, std: np.ndarray, config: RNDConfig):
    """The torch RND module: forward(embedding [N, D]) -> score [N]; the target is frozen."""
    import torch
    import torch.nn as nn

    class RND(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
            self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32))
            self.target = _mlp(in_dim, config.target_hidden, config.out_dim)
            self.predictor = _mlp(in_dim, config.predictor_hidden, config.out_dim)
            for p in self.target.parameters():
                p.requires_grad_(False)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            z = (x - self.mean) / self.std
            return ((self.predictor(z) - self.target(z)) ** 2).mean(dim=-1)

    torch.manual_seed(config.seed)
    return RND()


def train_rnd(embeddings: np.ndarray, config: RNDConfig | None = None, log=None, threads: int = 1):
    """Train the predictor on in-distribution embeddings [N, D]; returns the torch module (eval mode).

    `threads` bounds torch's intra-op threads while training (these MLPs are too small to gain from
    more, and a busy machine makes spinning worker threads very slow).
    """
    import torch

    previous_threads = torch.get_num_threads()
    torch.set_num_threads(max(1, threads))
    try:
        return _train(embeddings, config, log)
    finally:
        torch.set_num_threads(previous_threads)


def _train(embeddings: np.ndarray, config: RNDConfig | None, log):
    import torch

    config = config or RNDConfig()
    x = check_embeddings(embeddings, what="RND training embeddings")
    if x.shape[0] < 2:
        raise ValueError(f"RND training needs at least 2 embeddings, got {x.shape[0]}")
    mean = x.mean(axis=0)
    std = np.maximum(x.std(axis=0), _STD_FLOOR + 1e-3 * float(np.mean(x.std(axis=0))))
    model = build_rnd(x.shape[1], mean, std, config)
    data = torch.from_numpy(x)
    gen = torch.Generator().manual_seed(config.seed)
    opt = torch.optim.Adam(model.predictor.parameters(), lr=config.lr)
    bs = min(config.batch_size, x.shape[0])
    model.train()
    for step in range(config.steps):
        idx = torch.randint(0, x.shape[0], (bs,), generator=gen)
        loss = model(data[idx]).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if log is not None and (step + 1) % max(1, config.steps // 5) == 0:
            log(f"RND step {step + 1}/{config.steps}: loss {loss.item():.5f}")
    model.eval()
    return model


def torch_scores(model, embeddings: np.ndarray) -> np.ndarray:
    """Scores [N] from the torch module (reference for the ONNX graph)."""
    import torch

    with torch.no_grad():
        return model(torch.from_numpy(check_embeddings(embeddings))).numpy().astype(np.float64)


# ---------------------------------------------------------------------------- ONNX export
def _linear_layers(seq) -> list[tuple[np.ndarray, np.ndarray]]:
    import torch.nn as nn

    return [
        (m.weight.detach().cpu().numpy().astype(np.float32), m.bias.detach().cpu().numpy().astype(np.float32))
        for m in seq
        if isinstance(m, nn.Linear)
    ]


def export_rnd_onnx(model, path: str | Path, metadata: dict[str, str] | None = None) -> Path:
    """Write the RND module as one ONNX graph: `embedding` [N, D] float32 -> `score` [N] float32.

    The graph is built layer by layer from the trained weights (Gemm + Relu), so it does not depend on
    the torch exporter; `tests/fiper` checks its parity with the torch module.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    mean = model.mean.cpu().numpy().astype(np.float32)
    std = model.std.cpu().numpy().astype(np.float32)
    d = mean.shape[0]
    inits = [numpy_helper.from_array(mean, "mean"), numpy_helper.from_array(std, "std")]
    nodes = [
        helper.make_node("Sub", [INPUT_NAME, "mean"], ["centered"]),
        helper.make_node("Div", ["centered", "std"], ["z"]),
    ]

    def mlp(prefix: str, layers: list[tuple[np.ndarray, np.ndarray]]) -> str:
        x = "z"
        for i, (w, b) in enumerate(layers):
            wn, bn, y = f"{prefix}.{i}.weight", f"{prefix}.{i}.bias", f"{prefix}.{i}.out"
            inits.extend([numpy_helper.from_array(w, wn), numpy_helper.from_array(b, bn)])
            nodes.append(helper.make_node("Gemm", [x, wn, bn], [y], transB=1))
            x = y
            if i < len(layers) - 1:
                nodes.append(helper.make_node("Relu", [y], [f"{y}.relu"]))
                x = f"{y}.relu"
        return x

    t = mlp("target", _linear_layers(model.target))
    p = mlp("predictor", _linear_layers(model.predictor))
    nodes += [
        helper.make_node("Sub", [p, t], ["err"]),
        helper.make_node("Mul", ["err", "err"], ["sq"]),
        helper.make_node("ReduceMean", ["sq"], [OUTPUT_NAME], axes=[-1], keepdims=0),
    ]
    graph = helper.make_graph(
        nodes,
        "fiper_rnd",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", d])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["N"])],
        initializer=inits,
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", ONNX_OPSET)], producer_name="rstack-fiper")
    proto.ir_version = 8
    helper.set_model_props(proto, {"fiper.kind": "rnd", "fiper.embedding_dim": str(d), **(metadata or {})})
    onnx.checker.check_model(proto)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, str(path))
    return path


# ---------------------------------------------------------------------------- run time (onnxruntime)
def select_providers(available: list[str]) -> list[str]:
    """CUDA when present, always CPU as the fallback (a tiny MLP gains nothing from TensorRT)."""
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available] or available


class RNDOnnxScorer:
    """Scores embeddings with the exported RND graph through onnxruntime."""

    def __init__(self, path: str | Path, threads: int = 1) -> None:
        import onnxruntime as ort

        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"RND model {self.path} does not exist")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self.session = ort.InferenceSession(
                str(self.path), sess_options=opts, providers=select_providers(ort.get_available_providers())
            )
        except Exception as exc:  # onnxruntime raises its own exception types for corrupt files
            raise ValueError(f"RND model {self.path} is corrupt or not an ONNX graph: {exc}") from exc
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if [i.name for i in inputs] != [INPUT_NAME] or [o.name for o in outputs] != [OUTPUT_NAME]:
            raise ValueError(
                f"RND model {self.path} has inputs {[i.name for i in inputs]} and outputs "
                f"{[o.name for o in outputs]}; expected [{INPUT_NAME!r}] -> [{OUTPUT_NAME!r}]"
            )
        dim = inputs[0].shape[-1]
        if not isinstance(dim, int):
            raise ValueError(f"RND model {self.path} has no fixed embedding dimension (input shape {inputs[0].shape})")
        self.embedding_dim = dim
        self.providers = self.session.get_providers()

    def score(self, embeddings: np.ndarray) -> np.ndarray:
        """Scores [N] of embeddings [N, D] (or one embedding [D] -> [1])."""
        x = np.asarray(embeddings, dtype=np.float32)
        x = x[None, :] if x.ndim == 1 else x
        x = check_embeddings(x, self.embedding_dim)
        (out,) = self.session.run([OUTPUT_NAME], {INPUT_NAME: np.ascontiguousarray(x)})
        return np.asarray(out, dtype=np.float64)
