"""`rstack pipeline`: the whole loop in one reproducible command, each stage a plain `rstack` command.

    collect (scripted expert demos, MCAP) -> dataset build (zarr) -> train -> export (ONNX bundle)
    -> calibration rollouts (the policy on nominal episodes) -> fiper calibrate -> eval (with the monitor)

With --shadow-calibration the monitor is calibrated on offline shadow rollouts instead (the policy's planner
run on held-out demonstrations, `rstack fiper calibrate --from-demos`), for a policy that does not yet
succeed often enough to give M successful rollouts of its own.

Every stage writes under OUT and is skipped when its output already exists, so an interrupted run
resumes where it stopped (training itself resumes from its checkpoint). The commands it runs are
printed first, so any stage can be re-run by hand. Seeds: demos from --seed, calibration rollouts from
--seed + 500, evaluation from --seed + 1000 (three disjoint sets of episodes).
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import time
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pipeline", help="collect -> dataset -> train -> export -> calibrate -> eval, resumable")
    p.add_argument("--out", default="runs/pipeline", help="directory for every stage's output")
    p.add_argument("--demos", type=int, default=64, help="expert demonstrations to collect")
    p.add_argument("--camera-size", default="160x120", help="sim camera size WxH for demos, rollouts and eval")
    p.add_argument("--train-config", default="", help="YAML over the default training config")
    p.add_argument("--calibration-rollouts", type=int, default=12, help="policy episodes for calibration (M)")
    p.add_argument(
        "--shadow-calibration",
        action="store_true",
        help="calibrate on offline shadow rollouts (the policy's planner run on held-out demos) instead of the "
        "policy's own successful rollouts: for a policy that does not succeed often enough yet",
    )
    p.add_argument("--delta", type=float, default=0.1, help="monitor's allowed false-alarm rate")
    p.add_argument("--window", type=int, default=30, help="monitor's rolling window in planner steps (5 s at 6 Hz)")
    p.add_argument("--thresholds", choices=("band", "constant"), default="band", help="monitor's thresholds")
    p.add_argument("--eval-episodes", type=int, default=10)
    p.add_argument(
        "--scenarios",
        default="nominal,tactile_frozen,lighting,table_out_of_range,camera_shift,tool_stiffness,push",
        help="evaluation scenarios",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dry-run", action="store_true", help="print the stage commands and exit")
    p.set_defaults(func=run)


def stages(args: argparse.Namespace) -> list[tuple[str, list[str], Path]]:
    """(name, argv after `rstack`, output whose existence means done) for each stage."""
    out = Path(args.out)
    cam = ["--camera-size", args.camera_size]
    train = ["train", "--dataset", str(out / "dataset.zarr"), "--out-dir", str(out / "train")]
    if args.train_config:
        train[1:1] = ["--config", args.train_config]
    calib = out / "calibration_rollouts"
    if args.shadow_calibration:
        source = ["--from-demos", str(args.calibration_rollouts)]
    else:
        source = ["--rollouts", str(calib / "episodes" / "nominal"), "--skip-failures"]
    plan = [
        ("collect", ["collect", "--episodes", str(args.demos), "--seed", str(args.seed), "--out",
                     str(out / "demos"), "--json", str(out / "demos.json"), *cam], out / "demos.json"),
        ("dataset", ["dataset", "build", "--episodes", str(out / "demos"), "--out", str(out / "dataset.zarr"),
                     "--rate", "24", "--max-skew", "0.1"], out / "dataset.zarr"),
        ("train", train, out / "train" / "checkpoint" / "done"),
        ("export", ["export", "--checkpoint", str(out / "train" / "checkpoint"), "--out", str(out / "bundle")],
         out / "bundle" / "bundle.json"),
        ("rollouts", ["eval", "--policy", str(out / "bundle"), "--episodes", str(args.calibration_rollouts),
                      "--seed", str(args.seed + 500), "--no-record", "--out", str(calib), *cam],
         calib / "outcomes.json"),
        ("calibrate", ["fiper", "calibrate", *source, "--policy", str(out / "bundle"), "--dataset",
                       str(out / "dataset.zarr"), "--delta", str(args.delta), "--window", str(args.window),
                       "--thresholds", args.thresholds, "--out", str(out / "monitor")],
         out / "monitor" / "fiper_monitor.json"),
        ("eval", ["eval", "--policy", str(out / "bundle"), "--monitor", str(out / "monitor"), "--episodes",
                  str(args.eval_episodes), "--scenario", args.scenarios, "--seed", str(args.seed + 1000),
                  "--out", str(out / "eval"), *cam], out / "eval" / "report.html"),
    ]  # fmt: skip
    return [st for st in plan if not (args.shadow_calibration and st[0] == "rollouts")]


def run(args: argparse.Namespace) -> int:
    exe = [sys.executable, "-m", "rstack.cli"]
    plan = stages(args)
    for name, argv, done in plan:
        print(f"[{name}] rstack {shlex.join(argv)}" + ("   (done)" if done.exists() else ""))
    if args.dry_run:
        return 0
    Path(args.out).mkdir(parents=True, exist_ok=True)
    for i, (name, argv, done) in enumerate(plan, 1):
        if done.exists():
            continue
        print(f"\n=== stage {i}/{len(plan)}: {name} ===", flush=True)
        t0 = time.monotonic()
        rc = subprocess.call([*exe, *argv])
        if name == "train" and rc == 0:
            done.parent.mkdir(parents=True, exist_ok=True)
            done.write_text("trained\n")
        if rc != 0 or not done.exists():
            print(f"rstack pipeline: stage {name!r} failed (exit {rc}); fix it and re-run to resume", file=sys.stderr)
            return rc or 1
        print(f"=== {name} done in {time.monotonic() - t0:.0f} s ===", flush=True)
    print(f"\npipeline complete: bundle {Path(args.out) / 'bundle'}, monitor {Path(args.out) / 'monitor'}, "
          f"report {Path(args.out) / 'eval' / 'report.html'}")  # fmt: skip
    return 0
