"""Policy node through ROS: tactile stamp -> target published, and fast-tick jitter, with the planner running.

Run: ``.venv/bin/python bench/bench_policy_ros.py [--bundle DIR] [--seconds 20]``. Starts the real policy node (its
own process, onnxruntime on CPU) on a bundle (default: one built like bench_policy.py's, at the default model sizes),
and publishes what the robot's sensors would: from this process two cameras at 15 Hz, TCP pose and gripper at 100 Hz,
and from a process of its own (as the tactile node is) touch at the control rate, each stamped at capture. The latency
printed is the node's own record, for every target, of the time its publish call returned minus the capture stamp of
the touch sample it was decoded with (`touch_to_target_ms` in /policy/status); both come from this machine's one
clock. (The JSON lines also keep `lat_*`: the target's stamp minus the newest touch the source had *sent* before it,
which credits a tick with touch it may not have received yet.) Runs at 24 Hz and at 100 Hz control, with the planner
at its default rate and B=16, each with the planner as a thread of the node and in its own process (the default), side
by side; `--timer-only` adds the cases without touch-triggered ticks. Each case runs for every `--priorities` value of
the node's `fast_path_priority` (default 0 and 40: time-shared and SCHED_FIFO side by side); with a priority the touch
source process runs at it too, as a real-time tactile driver would. Prints p50/p99 latency, the node's own
tick-to-publish p99, its fast-tick jitter p99, the share of ticks run on touch, the node's touch arrival p99 (capture
stamp -> message in its hands), the host's steal while the node was measured (the share of CPU time this virtual
machine's CPUs were ready but the host ran something else; 0 on bare metal) and the share of CPU time used outside the
benchmark's own processes meanwhile ("others": anything else running on the machine shows there). `--prewarm 0,1` runs
each case with the node's tick prewarming off and on (`prewarm_ms`). The touch source publishes what the tactile node
publishes, built the same way (`hardware.tactile.wire.encode_tactile_array`). After the node's figures are taken, with
everything still running, probes run one after the other for `--probe-seconds` each, at the same priority: two
processes subscribed to touch alone measure the transport itself (touch stamp -> its callback runs), one taking
messages as the node's fast head does (serialized, through a wait set of its own: rstack.message_waiter), the floor
under the node's figure on this machine with the same load, the other as a plain rclpy node does (message objects,
SingleThreadedExecutor); and a pair of processes that only wake each other over a pipe at the touch rate measures the
machine's own cross-process wake-up, the floor under any middleware. They do not run while the node is measured:
real-time receivers woken by every touch on two cores delay each other, and on the robot the policy node is the touch
topic's one real-time subscriber.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from machine_load import MachineLoad  # bench/, beside this script


def _helper_node(name: str, priority: int):
    """rclpy up in a helper process, every thread SCHED_FIFO `priority` when > 0 (raised before rclpy starts, so the
    middleware's threads inherit it), with a short GIL switch interval; returns its node."""
    import rclpy
    from rclpy.signals import SignalHandlerOptions

    from hardware.realtime import make_threads_realtime
    from rstack.dds import use_stack_dds_profile

    # SIGINT ends the helper's loop as a KeyboardInterrupt, even when the bench was started in the background
    # from a script (such children inherit SIGINT ignored, and Python then installs no handler for it).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.setswitchinterval(0.0005)
    make_threads_realtime(priority)
    use_stack_dds_profile()
    # SIGINT (the end of the case) is a KeyboardInterrupt here, not a context shut down under a publish in flight.
    rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
    return rclpy.create_node(name)


def _percentiles(lat_ms: list[float]) -> dict:
    """n, p50 and p99 of a probe's latencies, its first tenth (start-up) left out; {} when there are none."""
    a = np.asarray(lat_ms[len(lat_ms) // 10 :])
    return {"n": int(a.size), "p50": float(np.percentile(a, 50)), "p99": float(np.percentile(a, 99))} if a.size else {}


def probe(priority: int, receiver: str) -> None:
    """Subscribe to the touch topic until SIGINT; then print the transport latency (callback time - stamp) as JSON.
    With `priority` > 0 every thread of this process (the middleware's included) runs SCHED_FIFO at it. `receiver`:
    "waiter" takes messages as the policy node's fast head does (serialized, through rstack.message_waiter, read by
    hardware.tactile.wire), "executor" as a plain rclpy node does (message objects, rclpy's SingleThreadedExecutor)."""
    import rclpy
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
    from std_msgs.msg import Float32MultiArray

    from hardware.tactile.layout import stamp_from_labels
    from hardware.tactile.wire import decode_tactile_array
    from rstack import graph
    from rstack.message_waiter import MessageWaiter
    from rstack.ros_types import topic_qos

    node = _helper_node(f"bench_touch_probe_{receiver}", priority)
    lat: list[float] = []
    raw = receiver == "waiter"

    def on_touch(msg) -> None:
        stamp = decode_tactile_array(msg)[0] if raw else stamp_from_labels([d.label for d in msg.layout.dim])
        t = time.time()
        if stamp is not None:
            lat.append((t - stamp) * 1e3)

    topic = graph.TACTILE_EMBEDDING
    sub = node.create_subscription(
        Float32MultiArray, topic.resolve(name="tool"), on_touch, topic_qos(topic), raw=raw
    )  # fmt: skip
    if receiver == "waiter":
        spin_once = MessageWaiter(node, [sub]).spin_once
    else:
        ex = SingleThreadedExecutor()
        ex.add_node(node)

        def spin_once(timeout_s: float) -> None:
            ex.spin_once(timeout_sec=timeout_s)

    try:
        while True:
            spin_once(0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    print(f"PROBE {receiver} " + json.dumps(_percentiles(lat)), flush=True)
    node.destroy_node()
    if rclpy.ok():
        rclpy.shutdown()


def pipe_probe(priority: int, rate_hz: float) -> None:
    """The machine's own floor, under the same load: one process wakes another over a pipe (stamp written -> read
    returns), both SCHED_FIFO `priority`, at the touch rate, until SIGINT; no ROS, no DDS, no message. Prints the
    latency as JSON. Whatever this takes, a touch message between two processes takes at least as long."""
    from hardware.realtime import make_threads_realtime

    period = 1.0 / rate_hz
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the receiver: ends when the sender closes the pipe
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        os.close(w)
        make_threads_realtime(priority)
        lat: list[float] = []
        while len(msg := os.read(r, 8)) == 8:
            lat.append((time.monotonic_ns() - int.from_bytes(msg, "little")) * 1e-6)
        print("PROBE pipe " + json.dumps(_percentiles(lat)), flush=True)
        os._exit(0)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.close(r)
    make_threads_realtime(priority)
    nxt = time.monotonic()
    try:
        while True:
            os.write(w, time.monotonic_ns().to_bytes(8, "little"))
            nxt += period
            time.sleep(max(0.0, nxt - time.monotonic()))
    except KeyboardInterrupt:
        pass
    os.close(w)
    os.waitpid(pid, 0)


def touch_source(rate_hz: float, priority: int, dim: int) -> None:
    """Publish touch at `rate_hz` until SIGINT, as a tactile driver process would (SCHED_FIFO `priority` for every
    thread, the middleware's included, when > 0); then print the capture stamps sent as JSON."""
    import rclpy
    from rclpy.executors import ExternalShutdownException
    from std_msgs.msg import Float32MultiArray

    from hardware.tactile.wire import encode_tactile_array
    from rstack import graph
    from rstack.ros_types import topic_qos

    node = _helper_node("bench_touch_source", priority)
    topic = graph.TACTILE_EMBEDDING
    pub = node.create_publisher(Float32MultiArray, topic.resolve(name="tool"), topic_qos(topic))
    sent: list[float] = []
    zeros = np.zeros(dim)
    period, nxt = 1.0 / rate_hz, time.monotonic()
    try:
        while True:
            t = time.time()
            pub.publish(encode_tactile_array(zeros, ["features"], t))  # as the tactile node publishes it
            sent.append(t)
            nxt += period
            time.sleep(max(0.0, nxt - time.monotonic()))
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    print("SENT " + json.dumps(sent), flush=True)
    node.destroy_node()
    if rclpy.ok():
        rclpy.shutdown()


def run_case(
    bundle: Path,
    rate_hz: float,
    tick_on_touch: bool,
    seconds: float,
    workdir: Path,
    planner_process: bool,
    nice: int,
    camera_size: tuple[int, int] = (320, 240),
    priority: int = 0,
    prewarm_ms: float = 1.0,
    receivers: tuple[str, ...] = ("waiter", "executor"),
    probe_seconds: float = 10.0,
) -> dict:
    import rclpy
    from geometry_msgs.msg import PoseStamped
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import Image, JointState
    from std_msgs.msg import String

    from policy_runtime.engine.bundle import load_bundle
    from rstack import graph
    from rstack.msg_convert import array_to_pose
    from rstack.node_support import s_to_stamp, stamp_to_s
    from rstack.ros_types import topic_qos
    from tests.helpers.procs import Proc, node_proc

    b = load_bundle(bundle)
    touch_dim = int(b.shapes["touch_dim"])
    params = {
        "policy_dir": str(bundle),
        "tactile_sensor": "tool",
        "control_rate_hz": rate_hz,
        "tick_on_touch": tick_on_touch,
        "planner_process": planner_process,
        "planner_nice": nice,
        "fast_path_priority": priority,
        "prewarm_ms": prewarm_ms,
        "max_action_jump_m": 0.5,  # the benchmark bundle's weights are barely trained
    }
    proc = node_proc("policy_node", params, name="policy", tmp=workdir)
    probes: dict = {}
    source = None
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    node = rclpy.create_node("bench_policy_ros", context=ctx)
    targets: list[float] = []
    status: dict = {}
    node.create_subscription(
        PoseStamped, graph.FRANKA_TARGET_POSE.name, lambda m: targets.append(stamp_to_s(m.header.stamp)), 100
    )
    node.create_subscription(
        String, graph.POLICY_STATUS.name, lambda m: status.update(json.loads(m.data)), topic_qos(graph.POLICY_STATUS)
    )
    cams = {c: node.create_publisher(Image, graph.CAMERA_IMAGE.resolve(name=c), 5) for c in b.cameras}
    pose_pub = node.create_publisher(PoseStamped, graph.FRANKA_EE_POSE.name, topic_qos(graph.FRANKA_EE_POSE))
    grip_pub = node.create_publisher(JointState, graph.FRANKA_GRIPPER_STATE.name, 10)
    ex = SingleThreadedExecutor(context=ctx)
    ex.add_node(node)
    spinner = threading.Thread(target=ex.spin, daemon=True)
    spinner.start()
    w, h = camera_size
    img = Image(height=h, width=w, encoding="rgb8", step=3 * w, data=bytes(np.full(h * 3 * w, 100, np.uint8)))
    pose = np.array([0.5, 0.0, 0.3, 1.0, 0.0, 0.0, 0.0])
    stop = threading.Event()

    def now() -> float:
        return time.time()

    def publisher(period: float, fn) -> None:
        nxt = time.monotonic()
        while not stop.is_set():
            fn(now())
            nxt += period
            time.sleep(max(0.0, nxt - time.monotonic()))

    def pub_cams(t: float) -> None:
        for pub in cams.values():
            img.header.stamp = s_to_stamp(t)
            pub.publish(img)

    def pub_state(t: float) -> None:
        pose_pub.publish(array_to_pose(pose, s_to_stamp(t), "base"))
        g = JointState(name=["width", "grasped"], position=[0.04, 0.0])
        g.header.stamp = s_to_stamp(t)
        grip_pub.publish(g)

    try:
        started = proc.wait_for(r"fast path (.*)$", timeout=120)
        for period, fn in ((1 / 15, pub_cams), (1 / 100, pub_state)):
            threading.Thread(target=publisher, args=(period, fn), daemon=True).start()
        # The touch source is its own process, as the tactile node is, at the node's priority.
        source = Proc([sys.executable, __file__, "--touch-source", f"{rate_hz},{priority},{touch_dim}"])
        deadline = time.monotonic() + 60
        while len(targets) < 10 and time.monotonic() < deadline:  # planning started, targets flowing
            time.sleep(0.05)
        if len(targets) < 10:
            raise RuntimeError(f"no targets from the policy node: {status}\n{proc.output[-2000:]}")
        n0, load = len(targets), MachineLoad()
        time.sleep(seconds)
        stamps, machine = np.asarray(targets[n0:]), load.stop()
        time.sleep(1.2)  # one more status message, with touch still flowing (stale touch would be held anyway)
        frozen_status = dict(status)
        # The probes come after the node's figures are taken, the node still running, one at a time: they measure the
        # hop under the same load, but are not several real-time receivers woken by each touch on two cores while the
        # node's figure is taken (on the robot the node is the touch topic's one real-time subscriber).
        transport = {}
        for r in receivers:
            probes[r] = Proc([sys.executable, __file__, "--probe", f"{priority},{r},{rate_hz}"])
            time.sleep(probe_seconds + 3.0)  # + start-up and discovery (each probe drops its first tenth)
            probes[r].signal(signal.SIGINT)
            transport[r] = json.loads(probes[r].wait_for(rf"^PROBE {r} (.*)$", timeout=30).group(1))
        source.signal(signal.SIGINT)
        touches = np.asarray(json.loads(source.wait_for(r"^SENT (.*)$", timeout=30).group(1)))
        idx = np.searchsorted(touches, stamps, side="right") - 1
        ok = idx >= 0
        lat_ms = (stamps[ok] - touches[idx[ok]]) * 1e3
        status = frozen_status
        return {
            "rate_hz": rate_hz,
            "tick_on_touch": tick_on_touch,
            "planner_process": planner_process,
            "fast_path": started.group(1),
            "prewarm_ms": prewarm_ms,
            "targets": int(stamps.size),
            "host_steal": machine["host_steal"],
            "other_cpu": machine["other_cpu"],
            "lat_p50_ms": float(np.percentile(lat_ms, 50)),
            "lat_p99_ms": float(np.percentile(lat_ms, 99)),
            "jitter_p99_ms": float(status.get("fast_jitter_ms_p99", float("nan"))),
            "in_node_p99_ms": float(status.get("fast_path_ms_p99", float("nan"))),
            "planner_ms_p50": float(status.get("planner_ms_p50", float("nan"))),
            "planner_steps": int(status.get("planner_step", 0)),
            "plans_prepared": int(status.get("fast_plans_prepared", 0)),
            "used_touch_p50_ms": float(status.get("touch_to_target_ms_p50", float("nan"))),
            "used_touch_p99_ms": float(status.get("touch_to_target_ms_p99", float("nan"))),
            "used_touch_samples": int(status.get("touch_to_target_samples", 0)),  # the node keeps only its latest
            "arrival_p50_ms": float(status.get("touch_arrival_ms_p50", float("nan"))),
            "arrival_p99_ms": float(status.get("touch_arrival_ms_p99", float("nan"))),
            "ticks_on_touch": float(status.get("fast_ticks_on_touch", 0)) / max(1, int(status.get("fast_ticks", 1))),
            "transport_p50_ms": float(transport.get("waiter", {}).get("p50", float("nan"))),
            "transport_p99_ms": float(transport.get("waiter", {}).get("p99", float("nan"))),
            "transport_executor_p50_ms": float(transport.get("executor", {}).get("p50", float("nan"))),
            "transport_executor_p99_ms": float(transport.get("executor", {}).get("p99", float("nan"))),
            "pipe_p50_ms": float(transport.get("pipe", {}).get("p50", float("nan"))),
            "pipe_p99_ms": float(transport.get("pipe", {}).get("p99", float("nan"))),
        }
    finally:
        stop.set()
        ex.shutdown(timeout_sec=1.0)
        node.destroy_node()
        rclpy.shutdown(context=ctx)
        proc.stop()
        for p in (*probes.values(), source):
            if p is not None:
                p.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", default="", help="policy bundle (default: build one at the default model sizes)")
    ap.add_argument("--seconds", type=float, default=20.0, help="measured seconds per case")
    ap.add_argument("--timer-only", action="store_true", help="also run each case with ticks on the timer alone")
    ap.add_argument("--planner-nice", type=int, default=0, help="niceness of the planner process")
    ap.add_argument("--rates", default="24,100", help="control rates to run, comma-separated (Hz)")
    ap.add_argument("--planner", choices=("both", "thread", "process"), default="both", help="planner placement")
    ap.add_argument("--camera-size", default="320x240", help="published camera image size WxH")
    ap.add_argument(
        "--priorities",
        default="0,40",
        help="the policy node's fast_path_priority values to run side by side (0: time-shared, N: SCHED_FIFO N)",
    )
    ap.add_argument(
        "--prewarm",
        default="1",
        help="the node's prewarm_ms values to run side by side, e.g. 0,1 (0: off; 1 is the node's default)",
    )
    ap.add_argument(
        "--probes",
        default="waiter,executor,pipe",
        help="probes run after each case's figures, one after the other: waiter, executor, pipe ('' for none)",
    )
    ap.add_argument("--probe-seconds", type=float, default=10.0, help="measured seconds of the transport probes")
    ap.add_argument("--probe", default="", help=argparse.SUPPRESS)  # internal: PRIORITY,RECEIVER,RATE (a probe)
    ap.add_argument("--touch-source", default="", help=argparse.SUPPRESS)  # internal: RATE,PRIORITY,DIM
    args = ap.parse_args()
    if args.probe:
        prio, receiver, rate = args.probe.split(",")
        if receiver == "pipe":
            pipe_probe(int(prio), float(rate))
        else:
            probe(int(prio), receiver)
        return
    if args.touch_source:
        rate, prio, dim = args.touch_source.split(",")
        touch_source(float(rate), int(prio), int(dim))
        return
    from rstack.dds import use_stack_dds_profile

    use_stack_dds_profile()
    with tempfile.TemporaryDirectory(prefix="bench-policy-ros-") as tmp:
        work = Path(tmp)
        if args.bundle:
            bundle = Path(args.bundle)
        else:
            from bench_policy import build_bundle

            print("building a bundle at the default model sizes ...", flush=True)
            _, bundle = build_bundle(work)
        rows = []
        cam = tuple(int(v) for v in args.camera_size.lower().split("x"))
        places = {"both": (False, True), "thread": (False,), "process": (True,)}[args.planner]
        for rate in (float(r) for r in args.rates.split(",")):
            for trig in (True, False) if args.timer_only else (True,):
                for own_process in places:  # side by side: planner thread in the node vs its own process
                    for prio in (int(v) for v in args.priorities.split(",")):
                        for warm in (float(v) for v in args.prewarm.split(",")):
                            r = run_case(
                                bundle,
                                rate,
                                trig,
                                args.seconds,
                                work,
                                own_process,
                                args.planner_nice,
                                cam,
                                prio,
                                warm,
                                tuple(r for r in args.probes.split(",") if r),
                                args.probe_seconds,
                            )
                            rows.append(r)
                            print(json.dumps(r), flush=True)
    head = ("control", "ticks", "planner", "fast path", "prewarm", "targets", "touch used->target p50", "p99",
            "in-node p99", "jitter p99", "on touch", "transport p50", "p99", "executor p50", "p99",
            "arrival p99", "pipe p50", "p99", "steal", "others")  # fmt: skip
    widths = (8, 11, 12, 28, 8, 8, 23, 8, 12, 11, 9, 14, 8, 13, 8, 12, 9, 8, 6, 6)
    print("\n" + " ".join(f"{h:>{w}s}" for h, w in zip(head, widths, strict=True)))
    for r in rows:
        mode = "on touch" if r["tick_on_touch"] else "timer only"
        where = "own process" if r["planner_process"] else "thread"
        print(
            f"{r['rate_hz']:6.0f}Hz {mode:>11s} {where:>12s} {r['fast_path']:>28s} {r['prewarm_ms']:5.1f} ms "
            f"{r['targets']:8d} "
            f"{r['used_touch_p50_ms']:20.2f} ms "
            f"{r['used_touch_p99_ms']:5.2f} ms {r['in_node_p99_ms']:9.2f} ms {r['jitter_p99_ms']:8.2f} ms "
            f"{r['ticks_on_touch']:9.0%} {r['transport_p50_ms']:11.2f} ms {r['transport_p99_ms']:5.2f} ms "
            f"{r['transport_executor_p50_ms']:10.2f} ms {r['transport_executor_p99_ms']:5.2f} ms "
            f"{r['arrival_p99_ms']:9.2f} ms {r['pipe_p50_ms']:6.2f} ms {r['pipe_p99_ms']:5.2f} ms "
            f"{r['host_steal']:6.1%} {r['other_cpu']:6.1%}"
        )
    for r in rows:
        if r["used_touch_samples"] < r["targets"]:
            print(
                f"{r['rate_hz']:.0f} Hz: touch used -> target covers the node's last {r['used_touch_samples']} "
                f"targets of {r['targets']} measured (all it keeps: {r['used_touch_samples'] / r['rate_hz']:.0f} s "
                "at this rate)"
            )


if __name__ == "__main__":
    main()
