"""`rstack sim expert` (run the scripted expert closed loop through ROS) and `rstack sim scenarios`."""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sim", help="sim world: run the scripted expert, list evaluation scenarios")
    sim_sub = p.add_subparsers(dest="sim_command", required=True)
    e = sim_sub.add_parser("expert", help="run the scripted wiping expert for N seeded episodes, print success rate")
    e.add_argument("--episodes", type=int, default=10, help="number of episodes (default 10)")
    e.add_argument("--scenario", default="nominal", help="scenario name (see `rstack sim scenarios`)")
    e.add_argument("--seed", type=int, default=0, help="base seed; episode i draws from (seed, i)")
    e.add_argument("--host", default="", help="loopback address for the sim server (default: a random 127.x.y.z)")
    e.add_argument("--no-cameras", action="store_true", help="do not render cameras (faster on a CPU)")
    e.add_argument("--camera-size", default="", help="sim camera size WxH (default: the sim world's, 320x240)")
    e.add_argument("--attach", action="store_true", help="use an already running sim profile instead of starting one")
    e.add_argument("--json", default="", help="write the per-episode outcomes to this JSON file")
    e.add_argument("--log", default="", help="write the started nodes' output to this file")
    e.set_defaults(func=run_expert)
    s = sim_sub.add_parser("scenarios", help="list the named evaluation scenarios")
    s.set_defaults(func=list_scenarios)


def list_scenarios(_args: argparse.Namespace) -> int:
    from hardware.sim.scenarios import SCENARIOS

    for name, sc in SCENARIOS.items():
        print(f"{name:20s} {sc.doc}")
    return 0


def summarize(outcomes: list[dict[str, Any]]) -> str:
    """One-paragraph summary: success rate, failure kinds, failure times."""
    n = len(outcomes)
    ok = sum(1 for o in outcomes if o["success"])
    kinds = Counter(o["kind"] for o in outcomes if not o["success"])
    lines = [f"success rate: {ok}/{n} = {ok / n:.1%}" if n else "no episodes"]
    if kinds:
        lines.append("failures: " + ", ".join(f"{k} x{v}" for k, v in kinds.most_common()))
    if n:
        cov = [o["coverage"] for o in outcomes]
        fmax = [o["max_force_n"] for o in outcomes]
        lines.append(f"coverage min/median: {min(cov):.2f}/{sorted(cov)[n // 2]:.2f}; max force max: {max(fmax):.1f} N")
    return "\n".join(lines)


def _camera_size(text: str) -> dict[str, int]:
    """`WxH` -> the sim world's camera size parameters ({} for the default)."""
    if not text:
        return {}
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise SystemExit(f"error: --camera-size wants WxH, e.g. 160x120, got {text!r}") from None
    if w < 16 or h < 16:
        raise SystemExit(f"error: --camera-size {text}: at least 16x16")
    return {"camera_width": w, "camera_height": h}


def _priority(priority: int | None) -> dict[str, int]:
    return {} if priority is None else {"control_thread_priority": int(priority)}


def sim_overrides(args: argparse.Namespace, host: str) -> dict[str, dict[str, Any]]:
    """The sim profile's parameter overrides from the command's options (world and arm node)."""
    return {
        "sim_world": {
            "ros__parameters": {
                "host": host,
                "seed": args.seed,
                "scenario": args.scenario,
                **({"camera_rate_hz": 0.0} if args.no_cameras else {}),
                **_camera_size(getattr(args, "camera_size", "")),
                **({"flight_log_dir": args.flight_log_dir} if getattr(args, "flight_log_dir", "") else {}),
                **({"realtime": float(args.sim_slowdown)} if getattr(args, "sim_slowdown", 1.0) != 1.0 else {}),
            }
        },
        "franka": {"ros__parameters": {"robot_ip": host, **_priority(getattr(args, "control_thread_priority", None))}},
    }


def _start_sim(args: argparse.Namespace, workdir: Path, log: Any):
    """Start sim_world + franka (the sim profile) on a private loopback address; (launcher, host)."""
    import yaml

    from rstack.launcher import Launcher, LaunchError, plan

    host = args.host or f"127.{random.randint(1, 254)}.{random.randint(0, 255)}.{random.randint(1, 254)}"
    overrides = sim_overrides(args, host)
    pfile = workdir / "overrides.yaml"
    pfile.write_text(yaml.safe_dump(overrides))
    try:
        _, launches = plan("sim", str(pfile), workdir)
    except LaunchError as exc:
        raise SystemExit(f"rstack sim expert: error: {exc}") from None
    # Both at once: the arm node retries its connection until the world's libfranka server is up.
    launcher = Launcher(launches, out=log)
    launcher.start()
    return launcher, host


def run_expert(args: argparse.Namespace) -> int:
    return expert_session(args, "rstack sim expert")


def _start_recorder(out_dir: Path, workdir: Path, log: Any):
    """The recorder node (sim topics) writing episodes into `out_dir`; its launcher."""
    from rstack import graph
    from rstack.launcher import Launcher, node_launch

    inst = graph.NodeInstance("recorder", graph.RECORDER, {"profile": "sim", "output_dir": str(out_dir)})
    launcher = Launcher([node_launch(inst, inst.merged_parameters(), workdir)], out=log)
    launcher.start()
    return launcher


def expert_session(args: argparse.Namespace, prog: str, record_dir: Path | None = None) -> int:
    """Start the sim profile (and a recorder if `record_dir`), run the expert for `args.episodes` episodes."""
    from hardware.sim.scenarios import scenario

    if args.episodes < 1:
        print(f"{prog}: error: --episodes must be >= 1", file=sys.stderr)
        return 2
    try:
        scenario(args.scenario)
    except ValueError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    if args.host and not args.host.startswith("127."):
        print(f"{prog}: error: --host must be a loopback address 127.x.y.z", file=sys.stderr)
        return 2

    import rclpy
    from rclpy.executors import ExternalShutdownException
    from tqdm import tqdm

    from rstack.dds import use_stack_dds_profile
    from rstack.nodes.expert_node import ExpertNode, run_episodes

    with tempfile.TemporaryDirectory(prefix="rstack-sim-") as tmp:
        workdir = Path(tmp)
        log = open(args.log or workdir / "nodes.log", "w")  # noqa: SIM115 - closed in finally
        launchers = []
        try:
            if record_dir is not None:
                launchers.append(_start_recorder(record_dir, workdir, log))
            if not args.attach:
                sim_launcher, host = _start_sim(args, workdir, log)
                launchers = [sim_launcher, *launchers]
                print(f"sim world on {host} (scenario {args.scenario!r}, seed {args.seed}); arm node connecting")
            use_stack_dds_profile()
            rclpy.init()
            node = ExpertNode()
            bar = tqdm(total=args.episodes, desc="expert episodes", unit="ep")
            outcomes: list[dict[str, Any]] = []

            def progress(o: dict[str, Any]) -> None:
                outcomes.append(o)
                ok = sum(1 for x in outcomes if x["success"])
                bar.set_postfix(success=f"{ok}/{len(outcomes)}", last=o["kind"])
                bar.update(1)

            try:
                run_episodes(node, args.episodes, progress, record=record_dir is not None)
            except (TimeoutError, RuntimeError, KeyboardInterrupt, ExternalShutdownException) as exc:
                print(f"{prog}: stopped after {len(outcomes)} episodes: {type(exc).__name__}: {exc}", flush=True)
            finally:
                bar.close()
                node.destroy_node()
                if rclpy.ok():
                    rclpy.shutdown()
            for o in outcomes:
                print(
                    f"episode {o['episode']:3d} seed {o['seed']}: {o['kind']:12s} t={o['time_s']:6.2f} s "
                    f"coverage {o['coverage']:.2f} max force {o['max_force_n']:5.1f} N {o['detail']}"
                    + (f" -> {o['recording']}" if "recording" in o else "")
                )
            print(summarize(outcomes))
            if args.json:
                Path(args.json).write_text(json.dumps(outcomes, indent=1))
            return 0 if len(outcomes) == args.episodes else 1
        finally:
            for la in launchers:
                la.stop_all()
            log.close()
