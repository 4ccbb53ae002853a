"""`rstack fiper`: calibrate the FIPER failure monitor for a policy, and inspect monitor artifacts.

    rstack fiper calibrate --rollouts DIR --policy BUNDLE_DIR --out DIR [--delta 0.1] [--window 10]
                           [--dataset ZARR] [--skip-failures]
    rstack fiper calibrate --from-demos K --dataset ZARR --policy BUNDLE_DIR --out DIR   (offline shadow)
    rstack fiper evaluate --eval-dir DIR [--eval-dir DIR ...] --monitor DIR --policy BUNDLE_DIR --out DIR
    rstack fiper info MONITOR_DIR [--policy BUNDLE_DIR]

`evaluate` replays a monitor over the policy episodes that `rstack eval` already ran (their OUT/outcomes.json and
captured features), with the same metrics and HTML report as `rstack eval --monitor`: a monitor calibrated after
an evaluation is judged on it without running the sim again.

The rollouts directory format is documented in `policy_runtime.fiper.rollouts`: `train_embeddings.npz`
(`embedding` [N, D] of the training demos; or `--dataset ZARR` to compute them with the bundle's encoder)
and one `.npz` per successful rollout (`embedding` [T, D], `chunks` [T, B, H, 3]); `rstack eval` writes
such files for every policy episode under OUT/episodes/<scenario>/ (`--skip-failures` keeps the successes).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from policy_runtime.fiper.ace import DEFAULT_CELL_FRACTION
from policy_runtime.fiper.artifacts import ArtifactError, load_artifacts, policy_identity
from policy_runtime.fiper.calibrate import DEFAULT_DELTA, DEFAULT_WINDOW, THRESHOLD_KINDS, calibrate_monitor
from policy_runtime.fiper.conformal import BAND_DILATE
from policy_runtime.fiper.rnd import RNDConfig
from policy_runtime.fiper.rollouts import TRAIN_EMBEDDINGS_FILE, load_rollouts, load_train_embeddings


def _cell_fraction(text: str) -> float | str:
    if text == "auto":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1] or 'auto', got {text!r}") from None


def _calibrate(args: argparse.Namespace) -> int:
    try:
        ident = policy_identity(args.policy)
        held_out: tuple[int, ...] = ()
        if args.from_demos:
            from policy_runtime.fiper.demo_features import demo_rollouts
            from policy_runtime.training.dataset import open_zarr

            if not args.dataset:
                raise ValueError("--from-demos needs --dataset")
            n_ep = int(open_zarr(args.dataset)["meta/episode_ends"].shape[0])
            if not 0 < args.from_demos < n_ep:
                raise ValueError(f"--from-demos {args.from_demos}: the dataset has {n_ep} episodes (keep some for RND)")
            held_out = tuple(range(n_ep - args.from_demos, n_ep))
            rollouts = demo_rollouts(
                args.policy, args.dataset, held_out, args.planner_stride, args.num_samples, seed=args.seed
            )
            print(f"{len(rollouts)} offline shadow rollouts from demo episodes {held_out[0]}..{held_out[-1]}")
        elif args.rollouts:
            rollouts = load_rollouts(args.rollouts, skip_failures=args.skip_failures)
        else:
            raise ValueError("give --rollouts DIR or --from-demos K")
        if args.dataset:
            from policy_runtime.fiper.demo_features import demo_embeddings

            train = demo_embeddings(args.policy, args.dataset, exclude_episodes=held_out)
            print(f"{len(train)} training-demo embeddings from {args.dataset}")
        else:
            train = load_train_embeddings(args.train_embeddings or Path(args.rollouts) / TRAIN_EMBEDDINGS_FILE)
        config = RNDConfig(steps=args.rnd_steps, seed=args.seed)
        art = calibrate_monitor(
            train,
            rollouts,
            ident,
            args.out,
            delta=args.delta,
            window=args.window,
            cell_fraction=args.cell_fraction,
            rnd_config=config,
            log=print,
            thresholds=args.thresholds,
            band_dilate=args.band_dilate,
        )
    except (ValueError, KeyError, FileNotFoundError) as exc:
        print(f"rstack fiper calibrate: {exc}", file=sys.stderr)
        return 2
    print(
        f"monitor for policy {art.policy.fingerprint[:19]}... written to {args.out}: M={art.num_rollouts}, "
        f"delta={art.delta}, window={art.window}, rnd threshold {art.rnd.describe()}, "
        f"ace threshold {art.ace.describe()} bits (B={art.ace_num_samples}, H={art.ace_horizon})"
    )
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from policy_runtime.evaluation.report import write_eval_report
    from rstack.commands.eval import monitor_metrics

    try:
        fingerprint = policy_identity(args.policy).fingerprint
        outcomes = []
        for d in args.eval_dir:
            path = Path(d) / "outcomes.json"
            if not path.is_file():
                raise FileNotFoundError(f"{path} does not exist (an `rstack eval --out` directory?)")
            for o in json.loads(path.read_text()):
                if not o.get("features"):
                    continue  # a baseline's episode: no policy features to replay
                if o.get("policy_fingerprint", fingerprint) != fingerprint:
                    raise ValueError(f"{path}: episode {o.get('episode')} was run by another policy than {args.policy}")
                outcomes.append(o)
        if not outcomes:
            raise ValueError(f"no policy episode with monitor features in {', '.join(args.eval_dir)}")
    except (ArtifactError, ValueError, FileNotFoundError) as exc:
        print(f"rstack fiper evaluate: {exc}", file=sys.stderr)
        return 2
    scenarios = list(dict.fromkeys(str(o.get("scenario", "")) for o in outcomes))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    metrics = monitor_metrics(args.monitor, args.policy, outcomes, scenarios, out, "rstack fiper evaluate")
    if not metrics:
        return 2
    report = write_eval_report(
        out / "report.html",
        outcomes,
        "rstack fiper evaluate " + " ".join(sys.argv[3:]),
        scores=metrics["scores"],
        rules_overall=metrics["overall"],
        rules_by_scenario=metrics["by_scenario"],
        monitor=args.monitor,
    )
    print(f"metrics: {out / 'fiper.json'}; report: {report}")
    return 0


def _info(args: argparse.Namespace) -> int:
    try:
        art = load_artifacts(args.monitor_dir, args.policy)
    except ArtifactError as exc:
        print(f"rstack fiper info: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(art.to_json(), indent=2))
    if args.policy:
        print(f"matches policy {args.policy}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fiper", help="FIPER failure monitor: calibrate from successful rollouts, inspect artifacts")
    fsub = p.add_subparsers(dest="fiper_command", required=True)

    c = fsub.add_parser("calibrate", help="train RND and conformal thresholds from successful rollouts")
    c.add_argument("--rollouts", default="", help="directory of rollout .npz files (+ train_embeddings.npz)")
    c.add_argument(
        "--from-demos",
        type=int,
        default=0,
        metavar="K",
        help="calibrate on offline shadow rollouts: the policy's planner run on the last K demo episodes of "
        "--dataset (held out of the RND training set), instead of --rollouts",
    )
    c.add_argument("--planner-stride", type=int, default=8, help="--from-demos: frames per planner step (24/8=3 Hz)")
    c.add_argument("--num-samples", type=int, default=8, help="--from-demos: B sampled chunks per planner step")
    c.add_argument("--policy", required=True, help="the policy bundle directory the rollouts were recorded with")
    c.add_argument("--out", required=True, help="output monitor directory (rnd.onnx + fiper_monitor.json)")
    c.add_argument("--train-embeddings", default=None, help=f"default: ROLLOUTS/{TRAIN_EMBEDDINGS_FILE}")
    c.add_argument("--dataset", default="", help="compute the training-demo embeddings from this zarr dataset")
    c.add_argument("--skip-failures", action="store_true", help="ignore rollouts marked unsuccessful (eval output)")
    c.add_argument("--delta", type=float, default=DEFAULT_DELTA, help="allowed false-alarm rate on successes")
    c.add_argument("--window", type=int, default=DEFAULT_WINDOW, help="rolling window length in planner steps")
    c.add_argument(
        "--cell-fraction",
        type=_cell_fraction,
        default=DEFAULT_CELL_FRACTION,
        help="ACE grid cell / calibration range, or 'auto': the grid on which the calibration rollouts' median "
        "ACE is half of log2(B) (for small B, where a fine grid saturates)",
    )
    c.add_argument(
        "--thresholds",
        choices=THRESHOLD_KINDS,
        default="constant",
        help="constant: the conformal quantile of per-rollout maxima (FIPER's default); band: a functional conformal "
        "band that follows each score's typical course through a rollout, with the same whole-rollout guarantee",
    )
    c.add_argument(
        "--band-dilate",
        type=int,
        default=BAND_DILATE,
        help="--thresholds band: steps of room for rollouts a little ahead of or behind the calibration ones",
    )
    c.add_argument("--rnd-steps", type=int, default=RNDConfig.steps, help="RND predictor training steps")
    c.add_argument("--seed", type=int, default=0)
    c.set_defaults(func=_calibrate)

    e = fsub.add_parser("evaluate", help="replay a monitor over policy episodes `rstack eval` already ran")
    e.add_argument("--eval-dir", action="append", required=True, help="an `rstack eval --out` directory (repeat)")
    e.add_argument("--monitor", required=True, help="monitor directory (rnd.onnx + fiper_monitor.json)")
    e.add_argument("--policy", required=True, help="the policy bundle the episodes were run with")
    e.add_argument("--out", required=True, help="directory for fiper.json and report.html")
    e.set_defaults(func=_evaluate)

    i = fsub.add_parser("info", help="print a monitor's metadata and thresholds; check it against a policy")
    i.add_argument("monitor_dir")
    i.add_argument("--policy", default=None, help="refuse (exit 2) if the monitor belongs to another policy")
    i.set_defaults(func=_info)
