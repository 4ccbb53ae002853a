"""`rstack train`: train the Reactive Diffusion Policy from a YAML config (resumes from out_dir)."""

from __future__ import annotations

import argparse


def _run(args: argparse.Namespace) -> int:
    from policy_runtime.training.config import load_config
    from policy_runtime.training.trainer import train_from_config

    overrides: dict = {}
    if args.dataset:
        overrides["data"] = {"path": args.dataset}
    if args.out_dir:
        overrides["out_dir"] = args.out_dir
    if args.device:
        overrides["device"] = args.device
    if args.no_resume:
        overrides["resume"] = False
    cfg = load_config(args.config, overrides)
    if not cfg.data.path:
        print("rstack train: no dataset: set data.path in the config or pass --dataset")
        return 2
    checkpoint = train_from_config(cfg)
    print(f"checkpoint: {checkpoint}")
    print(f"next: rstack export --checkpoint {checkpoint} --out {cfg.out_dir}/bundle")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train the policy (tokenizer, then latent diffusion) from a YAML config")
    p.add_argument("--config", default=None, help="YAML over policy_runtime/training/default.yaml")
    p.add_argument("--dataset", default=None, help="zarr dataset (overrides data.path)")
    p.add_argument("--out-dir", default=None, help="run directory (overrides out_dir)")
    p.add_argument("--device", default=None, help="auto | cpu | cuda | cuda:N (overrides device)")
    p.add_argument("--no-resume", action="store_true", help="start over even if out_dir has a checkpoint")
    p.set_defaults(func=_run)
