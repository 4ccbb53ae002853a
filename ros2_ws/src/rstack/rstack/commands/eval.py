"""`rstack eval`: closed-loop evaluation in the sim, through the full ROS graph, side by side with baselines.

Each controller runs the same seeded episodes (the world is restarted with the same seed for each):
- a policy bundle (`--policy DIR`): the policy node drives the arm through /franka/target_pose;
- `--mean-action ZARR`: the demonstrations' mean motion replayed open loop (policy_runtime.evaluation);
- `--expert`: the scripted expert that produced the demonstrations.
Between episodes an in-process supervisor lifts the tool, resets the world and hands the arm over.
Prints one row per controller (success k/n, rate with its 95% interval, coverage, failure kinds).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="closed-loop sim evaluation of a policy vs the mean-action replay and the expert")
    p.add_argument("--profile", default="sim", choices=["sim"], help="sim only")
    p.add_argument("--policy", default="", help="policy bundle directory (bundle.json + ONNX)")
    p.add_argument("--mean-action", default="", metavar="ZARR", help="also run the mean-action replay of this dataset")
    p.add_argument("--expert", action="store_true", help="also run the scripted expert")
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--scenario", default="nominal", help="scenario name (see `rstack sim scenarios`)")
    p.add_argument("--seed", type=int, default=1000, help="base seed (default 1000: not the collection seeds)")
    p.add_argument("--camera-size", default="", help="sim camera size WxH: use the one the policy was trained on")
    p.add_argument("--num-samples", type=int, default=8, help="B sampled chunks per planner step (policy node)")
    p.add_argument("--out", default="runs/eval", help="directory for outcomes.json and the node logs")
    p.add_argument("--host", default="", help="loopback address for the sim server (default: random 127.x.y.z)")
    p.add_argument("--no-cameras", action="store_true", help="no camera rendering (baselines only)")
    p.set_defaults(func=run, attach=False)


def _controllers(args: argparse.Namespace) -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    if args.policy:
        from policy_runtime.engine.bundle import BundleError, load_bundle

        try:
            load_bundle(args.policy)
        except (BundleError, OSError, ValueError) as exc:
            raise SystemExit(f"rstack eval: error: --policy: {exc}") from None
        out.append((f"policy {Path(args.policy).name}", {"policy": str(Path(args.policy).resolve())}))
    if args.mean_action:
        from policy_runtime.evaluation.mean_action import MeanAction

        try:
            mean = MeanAction.from_dataset(args.mean_action)
        except (OSError, KeyError, ValueError) as exc:
            raise SystemExit(f"rstack eval: error: --mean-action {args.mean_action}: {exc}") from None
        out.append((f"mean-action replay ({mean.episodes} demos)", {"mean": mean}))
    if args.expert:
        out.append(("scripted expert", {}))
    if not out:
        raise SystemExit("rstack eval: error: nothing to evaluate: give --policy, --mean-action and/or --expert")
    return out


class PolicyHandle:
    """Engage/disengage the policy node through its services (from the supervisor's non-executor thread)."""

    def __init__(self, node: Any) -> None:
        from std_srvs.srv import Trigger

        from rstack import graph

        self.node = node
        self.start = node.create_client(Trigger, graph.POLICY_START.name)
        self.stop = node.create_client(Trigger, graph.POLICY_STOP.name)

    def wait(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not (self.start.service_is_ready() and self.stop.service_is_ready()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"policy node services not up within {timeout_s} s")
            time.sleep(0.1)

    def engage(self) -> None:
        self._call(self.start)

    def disengage(self) -> None:
        self._call(self.stop)

    def _call(self, client: Any) -> None:
        resp = self.node._call(client, 10.0)
        if not resp.success:
            raise RuntimeError(f"{client.srv_name}: {resp.message}")


def _policy_launch(policy_dir: str, args: argparse.Namespace, workdir: Path, log: Any):
    from rstack import graph
    from rstack.launcher import Launcher, node_launch

    params = {
        "policy_dir": policy_dir,
        "tactile_sensor": "tool",
        "autostart": False,
        "num_samples": args.num_samples,
        "use_sim_time": True,
    }
    inst = graph.NodeInstance("policy", graph.POLICY, params)
    launcher = Launcher([node_launch(inst, inst.merged_parameters(), workdir)], out=log)
    launcher.start()
    return launcher


def run_controller(name: str, spec: dict[str, Any], args: argparse.Namespace, out_dir: Path) -> list[dict[str, Any]]:
    """Start the sim graph for one controller, run the episodes, stop everything; the outcomes."""
    import rclpy
    from tqdm import tqdm

    from rstack.commands.sim import _start_sim
    from rstack.dds import use_stack_dds_profile
    from rstack.nodes.expert_node import ExpertNode, run_episodes

    slug = "".join(c if c.isalnum() else "_" for c in name)[:40]
    outcomes: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="rstack-eval-") as tmp:
        workdir = Path(tmp)
        log = open(out_dir / f"nodes_{slug}.log", "w")  # noqa: SIM115 - closed in finally
        launchers = []
        try:
            sim, _host = _start_sim(args, workdir, log)
            launchers.append(sim)
            if "policy" in spec:
                launchers.append(_policy_launch(spec["policy"], args, workdir, log))
            use_stack_dds_profile()
            rclpy.init()
            node = ExpertNode()
            kw: dict[str, Any] = {}
            if "policy" in spec:
                handle = PolicyHandle(node)
                kw["external"] = handle
            if "mean" in spec:
                mean = spec["mean"]
                kw["controller"] = lambda _task, start: mean.controller(start)
            bar = tqdm(total=args.episodes, desc=name[:30], unit="ep")

            def progress(o: dict[str, Any]) -> None:
                outcomes.append({**o, "controller": name})
                ok = sum(1 for x in outcomes if x["success"])
                bar.set_postfix(success=f"{ok}/{len(outcomes)}", last=o["kind"])
                bar.update(1)

            try:
                if "policy" in spec:
                    handle.wait(120.0)  # the services come up once the policy has loaded its bundle
                run_episodes(node, args.episodes, progress, **kw)
            except (TimeoutError, RuntimeError, KeyboardInterrupt) as exc:
                print(f"rstack eval: {name}: stopped after {len(outcomes)} episodes: {exc}", flush=True)
            finally:
                bar.close()
                node.destroy_node()
                if rclpy.ok():
                    rclpy.shutdown()
        finally:
            for la in reversed(launchers):
                la.stop_all()
            log.close()
    return outcomes


def run(args: argparse.Namespace) -> int:
    from hardware.sim.scenarios import scenario
    from policy_runtime.evaluation.summary import controller_row, format_table

    if args.episodes < 1:
        print("rstack eval: error: --episodes must be >= 1", file=sys.stderr)
        return 2
    try:
        scenario(args.scenario)
    except ValueError as exc:
        print(f"rstack eval: error: {exc}", file=sys.stderr)
        return 2
    if args.no_cameras and args.policy:
        print("rstack eval: error: --no-cameras: the policy needs its cameras", file=sys.stderr)
        return 2
    controllers = _controllers(args)
    out_dir = Path(args.out).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    print(
        f"evaluating {len(controllers)} controller(s) on {args.episodes} episodes of {args.scenario!r} "
        f"(seed {args.seed}); node logs in {out_dir}"
    )
    all_outcomes: list[dict[str, Any]] = []
    rows = []
    for name, spec in controllers:
        outcomes = run_controller(name, spec, args, out_dir)
        all_outcomes.extend(outcomes)
        rows.append(controller_row(name, outcomes))
    (out_dir / "outcomes.json").write_text(json.dumps(all_outcomes, indent=1))
    (out_dir / "summary.json").write_text(json.dumps(rows, indent=1))
    print(f"\nscenario {args.scenario!r}, {args.episodes} episodes each, seed {args.seed}:")
    print(format_table(rows))
    print(f"outcomes: {out_dir / 'outcomes.json'}")
    complete = all(r["episodes"] == args.episodes for r in rows)
    return 0 if complete else 1
