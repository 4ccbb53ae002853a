"""`rstack dataset build` (MCAP episodes -> zarr) and `rstack dataset report` (HTML summary)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rstack import graph


def stream_map():
    """The builder's topic map, from the graph (the only place topic names are spelled)."""
    from policy_runtime.datasets.builder import StreamMap

    return StreamMap(
        camera=graph.CAMERA_IMAGE.name,
        tactile=graph.TACTILE_EMBEDDING.name,
        tcp_pose=graph.FRANKA_EE_POSE.name,
        gripper_state=graph.FRANKA_GRIPPER_STATE.name,
        wrench=graph.FRANKA_WRENCH.name,
        target_pose=graph.FRANKA_TARGET_POSE.name,
        gripper_command=graph.FRANKA_GRIPPER_COMMAND.name,
    )


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"image size must be WIDTHxHEIGHT, e.g. 320x240, got {text!r}") from None
    return w, h


def _build(args: argparse.Namespace) -> int:
    from policy_runtime.datasets.builder import BuildError, build_dataset

    try:
        res = build_dataset(
            args.episodes,
            args.out,
            stream_map(),
            rate_hz=args.rate,
            max_skew_s=args.max_skew,
            max_age_s=args.max_age,
            keep_flagged=args.keep_flagged,
            outcomes=args.outcomes.split(","),
            image_size=args.image_size,
            overwrite=args.overwrite,
        )
    except (BuildError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for p in res.episodes:
        rep = p.report()
        skew = rep.get("skew_ms", {})
        state = "included" if p.included else "EXCLUDED"
        print(
            f"{p.id}: {state}, {rep.get('ticks', 0)} steps, skew p99 {skew.get('p99', 0):.1f} ms "
            f"max {skew.get('max', 0):.1f} ms, recorder drops {sum(rep['recorder_drops'].values())}"
            + (f", FLAGGED: {' | '.join(p.flags)}" if p.flags else "")
        )
    print(f"wrote {res.out}: {res.steps} steps from {len(res.included)} episodes ({len(res.flagged)} flagged)")
    if args.json:
        print(json.dumps([p.report() for p in res.episodes], default=str))
    return 0


def _report(args: argparse.Namespace) -> int:
    from policy_runtime.datasets.report import write_report

    try:
        write_report(args.episodes, args.out, stream_map(), rate_hz=args.rate, max_skew_s=args.max_skew)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dataset", help="build a zarr training dataset from recorded episodes, or report on them")
    dsub = p.add_subparsers(dest="dataset_cmd", required=True)
    b = dsub.add_parser("build", help="MCAP episodes -> zarr dataset resampled by header stamps")
    b.add_argument(
        "--episodes", type=Path, nargs="+", required=True, help="recording directory (with index.json); several: merged"
    )
    b.add_argument("--out", type=Path, required=True, help="output DATASET.zarr")
    b.add_argument("--rate", type=float, required=True, help="control rate of the dataset (Hz)")
    b.add_argument("--max-skew", type=float, required=True, help="max spread of sensor stamps per step (s)")
    b.add_argument("--max-age", type=float, default=None, help="max age of a sensor sample (s); default max-skew")
    b.add_argument("--keep-flagged", action="store_true", help="keep episodes that break the sync rule")
    b.add_argument("--outcomes", default="success", help="comma list of outcomes to use (default: success)")
    b.add_argument("--image-size", type=_size, default=None, help="resize images to WIDTHxHEIGHT")
    b.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    b.add_argument("--json", action="store_true", help="also print the sync report as JSON")
    b.set_defaults(func=_build)
    r = dsub.add_parser("report", help="HTML summary of recorded episodes")
    r.add_argument("--episodes", type=Path, required=True, help="recording directory (with index.json)")
    r.add_argument("--out", type=Path, required=True, help="output report.html")
    r.add_argument("--rate", type=float, default=10.0, help="grid rate for the skew histogram (Hz)")
    r.add_argument("--max-skew", type=float, default=0.05, help="skew bound shown and checked (s)")
    r.set_defaults(func=_report)
