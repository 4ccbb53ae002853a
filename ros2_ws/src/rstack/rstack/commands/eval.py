"""`rstack eval`: closed-loop evaluation in the sim, through the full ROS graph, side by side with baselines.

Each controller runs the same seeded episodes (the world is restarted with the same seed for each):
- a policy bundle (`--policy DIR`): the policy node drives the arm through /franka/target_pose;
- `--mean-action ZARR`: the demonstrations' mean motion replayed open loop (policy_runtime.evaluation);
- `--expert`: the scripted expert that produced the demonstrations.
Between episodes an in-process supervisor lifts the tool, brings the arm to the same start pose (above the
table centre, where the demonstrations' episodes start), resets the world and hands the arm over.
Prints one row per controller and scenario (success k/n, rate with its 95% interval, coverage, failure
kinds). Every episode is recorded as MCAP by the recorder node (unless --no-record). For the policy, the
supervisor also captures its monitor features (embedding + sampled chunks per planner step) into
OUT/episodes/<scenario>/*.npz; with --monitor DIR the FIPER monitor and its baselines (RND-only,
ACE-only, OR) are replayed over them and their detection metrics printed. OUT/report.html shows it all.
"""

from __future__ import annotations

import argparse
import html
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
    p.add_argument("--scenario", default="nominal", help="scenario name(s), comma-separated (`rstack sim scenarios`)")
    p.add_argument("--seed", type=int, default=1000, help="base seed (default 1000: not the collection seeds)")
    p.add_argument("--camera-size", default="", help="sim camera size WxH: use the one the policy was trained on")
    p.add_argument("--num-samples", type=int, default=8, help="B sampled chunks per planner step (policy node)")
    p.add_argument("--planner-rate", type=float, default=0.0, help="policy planner rate in Hz (0: the node's default)")
    p.add_argument(
        "--policy-param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a policy node parameter for this evaluation (repeat), e.g. coherent_samples=false",
    )
    p.add_argument("--out", default="runs/eval", help="directory for outcomes.json and the node logs")
    p.add_argument("--host", default="", help="loopback address for the sim server (default: random 127.x.y.z)")
    p.add_argument("--no-cameras", action="store_true", help="no camera rendering (baselines only)")
    p.add_argument("--monitor", default="", help="FIPER monitor directory: replay it over the policy's episodes")
    p.add_argument("--no-record", dest="record", action="store_false", help="do not record the episodes as MCAP")
    p.add_argument(
        "--shadow-policy",
        default="",
        metavar="DIR",
        help="with --expert: run this policy disengaged beside the expert and capture its monitor features "
        "(shadow rollouts, e.g. to calibrate a monitor before the policy itself succeeds)",
    )
    p.add_argument(
        "--live-monitor",
        action="store_true",
        help="also run the fiper node live with --monitor: an alarm safe-stops the arm (changes the outcome)",
    )
    p.add_argument(
        "--flight-log",
        action="store_true",
        help="run the sim's flight recorder (OUT/flight): the arm's last 3 s of control saved when it leaves its "
        "commanded pose, and the libfranka client's command gaps",
    )
    p.add_argument(
        "--sim-slowdown",
        type=float,
        default=1.0,
        metavar="F",
        help="run the sim F times slower than real time (the sim world's `realtime`): every node then gets F times "
        "the CPU per second of sim time, as on a faster machine; all timing in the graph is in sim time",
    )
    p.add_argument(
        "--control-thread-priority",
        type=int,
        default=None,
        metavar="N",
        help="SCHED_FIFO priority of the arm node's libfranka control thread (0: time-shared; default: the node's)",
    )
    p.set_defaults(func=run, attach=False)


def flight_summary(directory: Path) -> str:
    """One line on the libfranka client's command gaps over all sim runs whose flight summaries are in `directory`."""
    from hardware.sim.flight_recorder import COMMUNICATION_LIMIT_STEPS, GAP_LABELS

    runs = [json.loads(p.read_text()) for p in sorted(directory.glob("summary_*.json"))]
    if not runs:
        return f"flight recorder: no summary in {directory}"
    hist = {k: sum(r["gap_steps"][k] for r in runs) for k in GAP_LABELS}
    worst = max(r["max_gap_steps"] for r in runs)
    saved = sum(len(r["saved"]) for r in runs)
    verdict = "a real Franka would have stopped" if worst > COMMUNICATION_LIMIT_STEPS else "within"
    return (
        f"libfranka client: longest command gap {worst} steps ({verdict} the {COMMUNICATION_LIMIT_STEPS}-step "
        f"limit); gaps by length {hist}; {saved} flight record(s) in {directory}"
    )


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
        spec: dict[str, Any] = {}
        if args.shadow_policy:
            spec = {"shadow": str(Path(args.shadow_policy).resolve())}
        out.append(("scripted expert" + (" (policy in shadow)" if args.shadow_policy else ""), spec))
    if not out:
        raise SystemExit("rstack eval: error: nothing to evaluate: give --policy, --mean-action and/or --expert")
    return out


class PolicyHandle:
    """Engage/disengage the policy node through its services (from the supervisor's non-executor thread)."""

    def __init__(self, node: Any, live_monitor: bool = False) -> None:
        from std_srvs.srv import Trigger

        from rstack import graph
        from rstack.feature_capture import FeatureCapture

        self.node = node
        self.fiper_reset = node.create_client(Trigger, graph.FIPER_RESET.name) if live_monitor else None
        self.capture = FeatureCapture(node, lambda: node.privileged.get("t"))
        self.features: tuple[Any, Any, Any] | None = None
        self.start = node.create_client(Trigger, graph.POLICY_START.name)
        self.stop = node.create_client(Trigger, graph.POLICY_STOP.name)

    def wait(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        ready = [self.start, self.stop] + ([self.fiper_reset] if self.fiper_reset else [])
        while not all(c.service_is_ready() for c in ready):
            if time.monotonic() > deadline:
                raise TimeoutError(f"policy node services not up within {timeout_s} s")
            time.sleep(0.1)

    def engage(self) -> None:
        if self.fiper_reset is not None:  # a fresh episode: clear the latched alarm and the score windows
            self._call(self.fiper_reset)
        self.capture.start()
        self._call(self.start)

    def disengage(self) -> None:
        try:
            self._call(self.stop)
        finally:
            self.features = self.capture.stop()

    def _call(self, client: Any) -> None:
        resp = self.node._call(client, 10.0)
        if not resp.success:
            raise RuntimeError(f"{client.srv_name}: {resp.message}")


class ShadowObserver:
    """Captures a disengaged policy's monitor features over each episode another controller drives."""

    def __init__(self, handle: PolicyHandle) -> None:
        self.handle = handle

    def start(self) -> None:
        self.handle.capture.start()

    def stop(self) -> None:
        self.handle.features = self.handle.capture.stop()


EVAL_SETS = ("policy_dir", "autostart", "use_sim_time", "tactile_sensor", "features_when_disengaged")


def policy_params(items: list[str]) -> dict[str, Any]:
    """`--policy-param KEY=VALUE` items -> typed policy node parameters; ValueError names the bad one."""
    import yaml

    from rstack import graph
    from rstack.params import coerce

    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or key not in graph.POLICY.parameters:
            known = ", ".join(sorted(graph.POLICY.parameters))
            raise ValueError(f"--policy-param {item!r}: expected KEY=VALUE with KEY one of: {known}")
        if key in EVAL_SETS:
            raise ValueError(f"--policy-param {key}: rstack eval sets it itself")
        out[key] = coerce(graph.POLICY.parameters[key], yaml.safe_load(text), f"--policy-param {key}")
    return out


def _policy_launch(policy_dir: str, args: argparse.Namespace, workdir: Path, log: Any, shadow: bool = False):
    """The policy node (waiting for /policy/start) and, with --live-monitor, the fiper node beside it."""
    from rstack import graph
    from rstack.launcher import Launcher, node_launch

    params = {
        "policy_dir": policy_dir,
        "tactile_sensor": "tool",
        "autostart": False,
        "num_samples": args.num_samples,
        "use_sim_time": True,
        **({"planner_rate_hz": args.planner_rate} if args.planner_rate > 0 else {}),
        "features_when_disengaged": shadow,
        **args.policy_params,
    }
    instances = [graph.NodeInstance("policy", graph.POLICY, params)]
    if args.live_monitor:
        fiper = {"monitor_dir": str(Path(args.monitor).resolve()), "policy_dir": policy_dir, "use_sim_time": True}
        instances.append(graph.NodeInstance("fiper", graph.FIPER, fiper))
    launcher = Launcher([node_launch(i, i.merged_parameters(), workdir) for i in instances], out=log)
    launcher.start()
    return launcher


def _save_features(handle: PolicyHandle, outcome: dict[str, Any], directory: Path, slug: str) -> str:
    """The policy's monitor features of the episode just decided, as an npz next to its outcome."""
    from policy_runtime.fiper.evaluate import EpisodeFeatures

    emb, chunks, t_s = handle.features or (None, None, None)
    if emb is None:
        return ""
    keep = t_s <= float(outcome["time_s"])  # steps after the sim decided the episode do not count
    emb, chunks, t_s = emb[keep], chunks[keep], t_s[keep]
    ep = EpisodeFeatures(
        name=f"{slug}_ep{int(outcome['episode']):03d}",
        scenario=str(outcome.get("scenario", "")),
        success=bool(outcome["success"]),
        kind=str(outcome["kind"]),
        failure_time_s=float(outcome["time_s"]),
        embedding=emb,
        chunks=chunks,
        t_s=t_s,
    )
    return str(ep.save(directory / f"{ep.name}.npz"))


def run_controller(
    name: str, spec: dict[str, Any], args: argparse.Namespace, out_dir: Path, scenario: str
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Start the sim graph for one controller and scenario, run the episodes, stop everything.

    Returns the outcomes and, for a policy, its last /policy/status (planner and fast-path timings)."""
    import rclpy
    from tqdm import tqdm

    from hardware.sim.expert import EVAL_START_XYZ
    from rstack.commands.sim import _start_recorder, _start_sim
    from rstack.dds import use_stack_dds_profile
    from rstack.nodes.expert_node import ExpertNode, run_episodes

    slug = "".join(c if c.isalnum() else "_" for c in name)[:40]
    outcomes: list[dict[str, Any]] = []
    status: dict[str, Any] = {}
    args = argparse.Namespace(**{**vars(args), "scenario": scenario})
    with tempfile.TemporaryDirectory(prefix="rstack-eval-") as tmp:
        workdir = Path(tmp)
        log = open(out_dir / f"nodes_{scenario}_{slug}.log", "w")  # noqa: SIM115 - closed in finally
        launchers = []
        try:
            sim, _host = _start_sim(args, workdir, log)
            launchers.append(sim)
            rec_dir = out_dir / "recordings" / scenario / slug
            if args.record:
                launchers.append(_start_recorder(rec_dir, workdir, log))
            if "policy" in spec or "shadow" in spec:
                shadow = "shadow" in spec
                launchers.append(_policy_launch(spec.get("policy") or spec["shadow"], args, workdir, log, shadow))
            use_stack_dds_profile()
            rclpy.init()
            node = ExpertNode()
            kw: dict[str, Any] = {"record": args.record, "start_xyz": EVAL_START_XYZ}
            handle = None
            if "policy" in spec:
                handle = PolicyHandle(node, live_monitor=args.live_monitor)
                kw["external"] = handle
            if "shadow" in spec:
                handle = PolicyHandle(node)
                kw["observer"] = ShadowObserver(handle)
            if "mean" in spec:
                mean = spec["mean"]
                kw["controller"] = lambda _task, start: mean.controller(start)
            bar = tqdm(total=args.episodes, desc=f"{scenario}: {name}"[:36], unit="ep")
            policy_fp = ""
            if "policy" in spec:  # which policy made the features (`rstack fiper evaluate` checks it)
                from policy_runtime.fiper.artifacts import policy_identity

                policy_fp = policy_identity(spec["policy"]).fingerprint

            def progress(o: dict[str, Any]) -> None:
                o = {**o, "controller": name, "scenario": scenario}
                if "recording" in o:  # the recorder's index entry (JSON) -> the MCAP file's path
                    o["recording"] = str(rec_dir / json.loads(o["recording"]).get("file", ""))
                if handle is not None:
                    o["features"] = _save_features(handle, o, out_dir / "episodes" / scenario, slug)
                    if args.live_monitor:
                        o["live_alarm_s"] = handle.capture.alarm_t
                if policy_fp:
                    o["policy_fingerprint"] = policy_fp
                outcomes.append(o)
                ok = sum(1 for x in outcomes if x["success"])
                bar.set_postfix(success=f"{ok}/{len(outcomes)}", last=o["kind"])
                bar.update(1)

            try:
                if handle is not None:
                    handle.wait(120.0)  # the services come up once the policy has loaded its bundle
                run_episodes(node, args.episodes, progress, **kw)
            except (TimeoutError, RuntimeError, KeyboardInterrupt) as exc:
                print(f"rstack eval: {name}: stopped after {len(outcomes)} episodes: {exc}", flush=True)
            finally:
                bar.close()
                if handle is not None:
                    status = dict(handle.capture.last_status)
                node.destroy_node()
                if rclpy.ok():
                    rclpy.shutdown()
        finally:
            for la in reversed(launchers):
                la.stop_all()
            log.close()
    return outcomes, status


def monitor_metrics(
    monitor: str, policy: str, outcomes: list[dict[str, Any]], scenarios: list[str], out_dir: Path, who: str
) -> dict[str, Any]:
    """Replay the monitor over the policy episodes' features; print and return its metrics per rule.

    Also writes OUT_DIR/fiper.json. `who` prefixes an error (the monitor does not load or fit the policy)."""
    from policy_runtime.fiper.artifacts import ArtifactError, load_artifacts
    from policy_runtime.fiper.evaluate import format_rules, load_episode, score_episodes, summarize

    try:
        art = load_artifacts(monitor, policy)
    except (ArtifactError, FileNotFoundError) as exc:
        print(f"{who}: --monitor: {exc}", file=sys.stderr)
        return {}
    episodes = [load_episode(o["features"]) for o in outcomes if o.get("features")]
    scores = score_episodes(art, episodes)
    overall = summarize(scores)
    by_scenario = {sc: summarize([s for s in scores if s.episode.scenario == sc]) for sc in scenarios}
    print(f"\nfailure monitor {monitor} (delta {art.delta}, window {art.window}) on {len(scores)} policy episodes:")
    print(format_rules(overall))
    if len(scenarios) > 1:
        for sc, rows in by_scenario.items():
            print(f"\n[{sc}]\n{format_rules(rows)}")
    result = {
        "monitor": str(Path(monitor).resolve()),
        "delta": art.delta,
        "overall": [r.as_dict() for r in overall],
        "by_scenario": {sc: [r.as_dict() for r in rows] for sc, rows in by_scenario.items()},
        "episodes": [
            {
                "name": s.episode.name,
                "scenario": s.episode.scenario,
                "success": s.episode.success,
                "kind": s.episode.kind,
                "failure_time_s": s.episode.failure_time_s,
                "alarm_time_s": {r: s.alarm_time_s(r) for r in s.first_alarm},
            }
            for s in scores
        ],
    }
    (out_dir / "fiper.json").write_text(json.dumps(result, indent=1))
    return {"scores": scores, "overall": overall, "by_scenario": by_scenario}


def run(args: argparse.Namespace) -> int:
    from hardware.sim.scenarios import scenario
    from policy_runtime.evaluation.report import write_eval_report
    from policy_runtime.evaluation.summary import controller_row, format_policy_timing, format_table

    if args.episodes < 1:
        print("rstack eval: error: --episodes must be >= 1", file=sys.stderr)
        return 2
    if not (1.0 <= args.sim_slowdown <= 20.0):
        print(f"rstack eval: error: --sim-slowdown must be in [1, 20], got {args.sim_slowdown}", file=sys.stderr)
        return 2
    args.scenarios = [s.strip() for s in args.scenario.split(",") if s.strip()]
    try:
        for sc in args.scenarios or ["?"]:
            scenario(sc)
    except ValueError as exc:
        print(f"rstack eval: error: {exc}", file=sys.stderr)
        return 2
    if args.no_cameras and args.policy:
        print("rstack eval: error: --no-cameras: the policy needs its cameras", file=sys.stderr)
        return 2
    if args.monitor and not args.policy:
        print("rstack eval: error: --monitor needs --policy (it watches the policy's features)", file=sys.stderr)
        return 2
    if args.shadow_policy and not args.expert:
        print("rstack eval: error: --shadow-policy runs beside the scripted expert: add --expert", file=sys.stderr)
        return 2
    if args.live_monitor and not args.monitor:
        print("rstack eval: error: --live-monitor needs --monitor DIR", file=sys.stderr)
        return 2
    try:
        args.policy_params = policy_params(args.policy_param)
    except ValueError as exc:
        print(f"rstack eval: error: {exc}", file=sys.stderr)
        return 2
    controllers = _controllers(args)
    out_dir = Path(args.out).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    print(
        f"evaluating {len(controllers)} controller(s) on {args.episodes} episodes of {', '.join(args.scenarios)} "
        f"(seed {args.seed}); node logs and recordings in {out_dir}"
    )
    args.flight_log_dir = str((out_dir / "flight").resolve()) if args.flight_log else ""
    all_outcomes: list[dict[str, Any]] = []
    rows = []
    for sc in args.scenarios:
        for name, spec in controllers:
            outcomes, status = run_controller(name, spec, args, out_dir, sc)
            all_outcomes.extend(outcomes)
            rows.append({**controller_row(name, outcomes), "scenario": sc, "policy_status": status})
    (out_dir / "outcomes.json").write_text(json.dumps(all_outcomes, indent=1))
    (out_dir / "summary.json").write_text(json.dumps(rows, indent=1))
    for sc in args.scenarios:
        print(f"\nscenario {sc!r}, {args.episodes} episodes each, seed {args.seed}:")
        print(format_table([r for r in rows if r["scenario"] == sc]))
        for r in rows:
            if r["scenario"] == sc and r["policy_status"]:
                print(f"  {r['controller']}: {format_policy_timing(r['policy_status'], sim_time=True)}")
    monitor = (
        monitor_metrics(args.monitor, args.policy, all_outcomes, args.scenarios, out_dir, "rstack eval")
        if args.monitor
        else {}
    )
    report = write_eval_report(
        out_dir / "report.html",
        all_outcomes,
        "rstack eval " + " ".join(sys.argv[2:]) if len(sys.argv) > 2 else "rstack eval",
        scores=monitor.get("scores", ()),
        rules_overall=monitor.get("overall", ()),
        rules_by_scenario=monitor.get("by_scenario"),
        monitor=args.monitor,
        extra="".join(
            f"<p>{html.escape(r['scenario'])}, {html.escape(r['controller'])}: "
            f"{html.escape(format_policy_timing(r['policy_status'], sim_time=True))}</p>"
            for r in rows
            if r["policy_status"]
        ),
    )
    if args.flight_log:
        print(flight_summary(out_dir / "flight"))
    print(f"outcomes: {out_dir / 'outcomes.json'}; report: {report}")
    if args.record:
        print(f"recordings (MCAP): {out_dir / 'recordings'}")
    complete = all(r["episodes"] == args.episodes for r in rows)
    return 0 if complete else 1
