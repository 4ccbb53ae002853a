"""`rstack export`: turn a training checkpoint into a verified policy bundle (ONNX graphs + bundle.json)."""

from __future__ import annotations

import argparse


def _run(args: argparse.Namespace) -> int:
    from policy_runtime.engine.bundle import load_bundle
    from policy_runtime.export.onnx_export import export_bundle

    out = export_bundle(args.checkpoint, args.out)
    bundle = load_bundle(out)
    for name, g in bundle.graphs.items():
        print(f"{name:18s} {g.path.name:24s} {g.size:>9d} B  sha256 {g.sha256[:16]}")
    print(f"bundle: {out}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a training checkpoint to an ONNX policy bundle")
    p.add_argument("--checkpoint", required=True, help="checkpoint directory (run_dir/checkpoint)")
    p.add_argument("--out", required=True, help="bundle directory to write (replaced atomically)")
    p.set_defaults(func=_run)
