"""Training configuration: nested dataclasses loaded from YAML (unknown keys are errors, not ignored)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEFAULT_CONFIG = Path(__file__).with_name("default.yaml")


@dataclass
class DataConfig:
    path: str = ""  # zarr dataset (directory store or .zarr.zip)
    cameras: list[str] | None = None  # None: every data/img_<camera> in the dataset
    image_size: list[int] = field(default_factory=lambda: [48, 64])  # [H, W] after resize (cv2 INTER_AREA)
    touch_key: str = "touch"
    horizon: int = 32  # action chunk length H (steps at the control rate)
    obs_steps: int = 2  # To
    obs_stride: int = 2  # frames between observation steps (24 Hz control / 2 = 12 Hz observations)
    control_rate_hz: float = 24.0
    image_shift_px: int = 4  # random-shift augmentation (pad + random crop), training only
    std_floor: float = 1e-2  # normalizer: lower bound on per-dimension std


@dataclass
class TokenizerTrainConfig:
    enc_channels: int = 32
    latent_dim: int = 16
    gru_hidden: int = 32
    steps: int = 1500
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 1e-4
    kl_weight: float = 1e-6


@dataclass
class DiffusionTrainConfig:
    down_dims: list[int] = field(default_factory=lambda: [64, 128])
    kernel_size: int = 3
    step_embed_dim: int = 128
    emb_dim: int = 128
    cnn_channels: list[int] = field(default_factory=lambda: [16, 32, 32, 64])
    cnn_strides: list[int] = field(default_factory=lambda: [2, 2, 1, 1])
    keypoints: int = 32
    steps: int = 7000
    batch_size: int = 64
    lr: float = 3e-4
    weight_decay: float = 1e-6
    warmup_steps: int = 100
    ema_power: float = 0.75
    ema_max_decay: float = 0.9999
    num_train_timesteps: int = 100
    inference_steps: int = 8
    streaming_chunks: int = 4
    streaming_ladder_prob: float = 0.8


@dataclass
class TrainConfig:
    data: DataConfig = field(default_factory=DataConfig)
    tokenizer: TokenizerTrainConfig = field(default_factory=TokenizerTrainConfig)
    diffusion: DiffusionTrainConfig = field(default_factory=DiffusionTrainConfig)
    out_dir: str = "runs/policy"
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    torch_threads: int = 1  # 0: torch's default
    checkpoint_every: int = 500
    log_every: int = 50
    resume: bool = True  # continue from out_dir/checkpoint when it exists

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _build(cls: type, values: dict[str, Any], where: str) -> Any:
    if not isinstance(values, dict):
        raise ValueError(f"{where}: expected a mapping, got {type(values).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; known: {sorted(fields)}")
    kwargs = {}
    for name, value in values.items():
        default = getattr(cls(), name)
        kwargs[name] = _build(type(default), value, f"{where}.{name}") if dataclasses.is_dataclass(default) else value
    return cls(**kwargs)


def config_from_dict(values: dict[str, Any], where: str = "config") -> TrainConfig:
    return _build(TrainConfig, values, where)


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Read a YAML config over the defaults (`default.yaml`), then apply `overrides` (nested dict)."""
    merged: dict[str, Any] = yaml.safe_load(DEFAULT_CONFIG.read_text()) or {}
    sources = []
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"training config {p} does not exist")
        try:
            sources.append((yaml.safe_load(p.read_text()) or {}, str(p)))
        except yaml.YAMLError as e:
            raise ValueError(f"training config {p} is not valid YAML: {e}") from e
    if overrides:
        sources.append((overrides, "overrides"))
    for src, where in sources:
        if not isinstance(src, dict):
            raise ValueError(f"training config {where}: top level must be a mapping")
        _deep_update(merged, src)
    return config_from_dict(merged, where=str(path) if path else "config")


def _deep_update(dst: dict[str, Any], src: dict[str, Any]) -> None:
    for k, v in src.items():
        if isinstance(v, dict) and isinstance(dst.get(k), dict):
            _deep_update(dst[k], v)
        else:
            dst[k] = v
