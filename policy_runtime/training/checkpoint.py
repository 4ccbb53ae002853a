"""Checkpoints as a directory: ``weights.safetensors`` (every tensor) + ``state.json`` (everything else).

Nothing is pickled, so loading a checkpoint never executes code from the file. Writes are atomic: a
new checkpoint is written next to the old one and swapped in by renames, so a crash mid-write leaves
the previous checkpoint intact.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

WEIGHTS = "weights.safetensors"
STATE = "state.json"
CHECKPOINT_SCHEMA = 1


def save_checkpoint(directory: str | Path, tensors: dict[str, torch.Tensor], state: dict[str, Any]) -> Path:
    """Write tensors + JSON state to ``directory`` atomically (replacing an older checkpoint there)."""
    directory = Path(directory)
    tmp = directory.with_name(directory.name + ".tmp")
    old = directory.with_name(directory.name + ".old")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file({k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}, str(tmp / WEIGHTS))
    (tmp / STATE).write_text(json.dumps({"checkpoint_schema": CHECKPOINT_SCHEMA, **state}, indent=1))
    shutil.rmtree(old, ignore_errors=True)
    if directory.exists():
        directory.rename(old)
    tmp.rename(directory)
    shutil.rmtree(old, ignore_errors=True)
    return directory


def load_checkpoint(directory: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a checkpoint; errors name the file and what is wrong."""
    directory = Path(directory)
    weights, state_path = directory / WEIGHTS, directory / STATE
    for p in (weights, state_path):
        if not p.is_file():
            raise FileNotFoundError(f"checkpoint file {p} is missing")
    try:
        state = json.loads(state_path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"checkpoint file {state_path} is not valid JSON: {e}") from e
    if state.get("checkpoint_schema") != CHECKPOINT_SCHEMA:
        raise ValueError(
            f"checkpoint file {state_path}: schema {state.get('checkpoint_schema')!r}, expected {CHECKPOINT_SCHEMA}"
        )
    try:
        tensors = load_file(str(weights))
    except (SafetensorError, OSError) as e:
        raise ValueError(f"checkpoint file {weights} is corrupt or truncated: {e}") from e
    return tensors, state


def optimizer_to_flat(prefix: str, opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], list[dict]]:
    """An optimizer's state as flat tensors (``prefix.pid.key``) + JSON-able param groups."""
    sd = opt.state_dict()
    tensors = {}
    for pid, st in sd["state"].items():
        for key, value in st.items():
            tensors[f"{prefix}.{pid}.{key}"] = value if torch.is_tensor(value) else torch.tensor(value)
    groups = [{k: list(v) if isinstance(v, tuple) else v for k, v in g.items()} for g in sd["param_groups"]]
    return tensors, groups


def optimizer_from_flat(
    prefix: str, opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], groups: list[dict]
) -> None:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, value in tensors.items():
        if name.startswith(prefix + "."):
            pid, key = name[len(prefix) + 1 :].split(".", 1)
            state.setdefault(int(pid), {})[key] = value
    fixed = [{k: tuple(v) if k == "betas" else v for k, v in g.items()} for g in groups]
    opt.load_state_dict({"state": state, "param_groups": fixed})


def module_tensors(prefix: str, module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {f"{prefix}.{k}": v for k, v in module.state_dict().items()}


def load_module(prefix: str, module: torch.nn.Module, tensors: dict[str, torch.Tensor], source: str) -> None:
    """Load ``prefix.*`` tensors into a module; a missing/unexpected/mis-shaped tensor is an error naming `source`."""
    sub = {k[len(prefix) + 1 :]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
    expected = module.state_dict()
    missing = sorted(set(expected) - set(sub))
    extra = sorted(set(sub) - set(expected))
    bad = [k for k in expected if k in sub and tuple(sub[k].shape) != tuple(expected[k].shape)]
    if missing or extra or bad:
        raise ValueError(
            f"checkpoint {source}: {prefix} does not match the model "
            f"(missing {missing[:5]}, unexpected {extra[:5]}, wrong shape {bad[:5]})"
        )
    module.load_state_dict(sub)
