"""`rstack train` and `rstack export` subcommands: parse, train from a YAML file, export a verified bundle."""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from policy_runtime.engine.bundle import load_bundle
from rstack.commands import export as export_cmd
from rstack.commands import train as train_cmd

from .conftest import TINY


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rstack")
    sub = p.add_subparsers(dest="cmd", required=True)
    train_cmd.register(sub)
    export_cmd.register(sub)
    return p


def test_train_then_export(dataset: Path, tmp_path: Path) -> None:
    cfg = {**TINY, "tokenizer": {**TINY["tokenizer"], "steps": 2}, "diffusion": {**TINY["diffusion"], "steps": 2}}
    cfg_file = tmp_path / "cfg.yaml"
    cfg_file.write_text(yaml.safe_dump(cfg))
    run = tmp_path / "run"
    args = _parser().parse_args(["train", "--config", str(cfg_file), "--dataset", str(dataset), "--out-dir", str(run)])
    assert args.func(args) == 0
    assert (run / "checkpoint" / "weights.safetensors").is_file()

    out = tmp_path / "bundle"
    args = _parser().parse_args(["export", "--checkpoint", str(run / "checkpoint"), "--out", str(out)])
    assert args.func(args) == 0
    assert load_bundle(out).manifest["training"]["diffusion_step"] == 2


def test_train_without_dataset_is_refused(tmp_path: Path, capsys) -> None:
    args = _parser().parse_args(["train", "--out-dir", str(tmp_path)])
    assert args.func(args) == 2
    assert "no dataset" in capsys.readouterr().out
