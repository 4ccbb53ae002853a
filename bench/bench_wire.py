"""The policy node's messages on each side of the wire: rosidl message objects vs hardware.wire, side by side.

Run: ``.venv/bin/python bench/bench_wire.py [--repeats 300]``. Times in one process, for each message the policy
node's fast head takes or its threads send:
- touch (a 16-value tactile embedding, the policy's touch input, and a 7x9x2 marker flow), sent and taken;
- the TCP pose taken (PoseStamped at the arm's rate: the fast head takes every one);
- the target sent (PoseStamped, once per tick);
- the monitor features sent (embedding 64 and B=16 chunks of 32 x 3 positions, once per planner step).
"send" is the message built and serialized (the `rstack.msg_convert` helper + `rclpy.serialization.serialize_message`,
which is the conversion and serialization `Publisher.publish` runs) against the `hardware.wire` encoder; "take" is
the bytes turned into what the node uses (`deserialize_message`, which is what `take_message` runs, then the fields
read) against the `hardware.wire` decoder. Each back to back and after a pause of one 24 Hz period (41.7 ms) asleep,
as on the robot. Prints median and p99 in microseconds and the ratio of the medians.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from geometry_msgs.msg import PoseStamped
from machine_load import MachineLoad  # bench/, beside this script
from rclpy.serialization import deserialize_message, serialize_message
from std_msgs.msg import Float32MultiArray

from hardware.tactile.layout import stamp_from_labels
from hardware.tactile.wire import decode_tactile_array, encode_tactile_array
from hardware.wire.multiarray import encode_float32_multiarray
from hardware.wire.stamped import PoseStampedEncoder, decode_pose_stamped
from policy_runtime.fiper.messages import encode_chunks, encode_embedding
from rstack.msg_convert import array_to_pose, float_array_msg, pose_to_array, tactile_array_msg
from rstack.node_support import s_to_stamp, stamp_to_s

PAUSE_S = 1.0 / 24.0


def timed(fn: Callable[[], object], repeats: int, pause_s: float) -> np.ndarray:
    """Microseconds per call; the first tenth is dropped (start-up)."""
    out = []
    for _ in range(repeats):
        if pause_s:
            time.sleep(pause_s)
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return np.asarray(out[repeats // 10 :]) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=300, help="calls per case (after a pause: repeats x 41.7 ms)")
    args = ap.parse_args()
    print(f"{'message':>20s} {'side':>5s} {'pause':>8s} {'rosidl p50':>11s} {'p99':>7s} {'wire p50':>9s} {'p99':>7s} "
          f"{'ratio':>6s}")  # fmt: skip
    cases: list[tuple[str, str, Callable[[], object], Callable[[], object]]] = []
    for label, shape, names in (
        ("touch 16", (16,), ["features"]),
        ("flow 7x9x2", (7, 9, 2), ["rows", "cols", "xy"]),
    ):
        values = np.random.default_rng(0).normal(size=shape).astype(np.float32)
        raw = serialize_message(tactile_array_msg(values, names, time.time()))

        def rosidl_take(raw: bytes = raw) -> tuple:
            msg = deserialize_message(raw, Float32MultiArray)
            return stamp_from_labels([d.label for d in msg.layout.dim]), np.asarray(msg.data, np.float32)

        cases += [
            (label, "send", lambda v=values, n=names: serialize_message(tactile_array_msg(v, n, time.time())),
             lambda v=values, n=names: encode_tactile_array(v, n, time.time())),
            (label, "take", rosidl_take, lambda raw=raw: decode_tactile_array(raw)),
        ]  # fmt: skip
    pose = np.array([0.5, -0.1, 0.3, 0.0, 1.0, 0.0, 0.0])
    pose_raw = serialize_message(array_to_pose(pose, s_to_stamp(time.time()), "base"))

    def rosidl_pose_take() -> tuple:
        msg = deserialize_message(pose_raw, PoseStamped)
        return stamp_to_s(msg.header.stamp), pose_to_array(msg)

    target = PoseStampedEncoder("base")
    emb, chunks = np.zeros(64, np.float32), np.zeros((16, 32, 3), np.float32)

    def rosidl_features() -> tuple:
        return (serialize_message(float_array_msg(*encode_embedding(7, emb))),
                serialize_message(float_array_msg(*encode_chunks(7, chunks))))  # fmt: skip

    def wire_features() -> tuple:
        return encode_float32_multiarray(*encode_embedding(7, emb)), encode_float32_multiarray(
            *encode_chunks(7, chunks)
        )

    cases += [
        ("TCP pose", "take", rosidl_pose_take, lambda: decode_pose_stamped(pose_raw)),
        ("target pose", "send", lambda: serialize_message(array_to_pose(pose, s_to_stamp(time.time()), "base")),
         lambda: target.encode(time.time(), pose)),
        ("features 64+16x32x3", "send", rosidl_features, wire_features),
    ]  # fmt: skip
    load = MachineLoad()
    for label, side, slow, fast in cases:
        for pause in (0.0, PAUSE_S):
            n = args.repeats * (1 if pause else 10)
            a, b = timed(slow, n, pause), timed(fast, n, pause)
            print(
                f"{label:>20s} {side:>5s} {pause * 1e3:5.1f} ms {np.median(a):8.1f} us {np.percentile(a, 99):7.1f} "
                f"{np.median(b):6.1f} us {np.percentile(b, 99):7.1f} {np.median(a) / np.median(b):5.1f}x",
                flush=True,
            )
    print(load.summary())


if __name__ == "__main__":
    main()
