"""Touch message cost on each side of the wire: rosidl message objects vs hardware.tactile.wire, side by side.

Run: ``.venv/bin/python bench/bench_touch_wire.py [--repeats 300]``. For a 16-value tactile embedding (the policy's
touch input) and a 7x9x2 marker flow, times in one process:
- send: the message built and serialized (`tactile_array_msg` + `rclpy.serialization.serialize_message`, which is
  the conversion and serialization `Publisher.publish` runs) against `encode_tactile_array`;
- take: the bytes turned into stamp + values (`deserialize_message`, which is what `take_message` runs, then the
  label and the data read) against `decode_tactile_array`;
each back to back and after a pause of one 24 Hz period (41.7 ms) asleep, as on the robot where touch comes every
10-42 ms. Prints median and p99 in microseconds and the ratio of the medians.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rclpy.serialization import deserialize_message, serialize_message
from std_msgs.msg import Float32MultiArray

from hardware.tactile.layout import stamp_from_labels
from hardware.tactile.wire import decode_tactile_array, encode_tactile_array
from rstack.msg_convert import tactile_array_msg

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
    print(f"{'message':>18s} {'side':>5s} {'pause':>8s} {'rosidl p50':>11s} {'p99':>7s} {'wire p50':>9s} {'p99':>7s} "
          f"{'ratio':>6s}")  # fmt: skip
    for label, shape, names in (
        ("embedding 16", (16,), ["features"]),
        ("flow 7x9x2", (7, 9, 2), ["rows", "cols", "xy"]),
    ):
        values = np.random.default_rng(0).normal(size=shape).astype(np.float32)
        raw = serialize_message(tactile_array_msg(values, names, time.time()))

        def rosidl_take(raw: bytes = raw) -> tuple:
            msg = deserialize_message(raw, Float32MultiArray)
            return stamp_from_labels([d.label for d in msg.layout.dim]), np.asarray(msg.data, np.float32)

        cases = {
            "send": (
                lambda v=values, n=names: serialize_message(tactile_array_msg(v, n, time.time())),
                lambda v=values, n=names: encode_tactile_array(v, n, time.time()),
            ),
            "take": (rosidl_take, lambda raw=raw: decode_tactile_array(raw)),
        }
        for side, (slow, fast) in cases.items():
            for pause in (0.0, PAUSE_S):
                n = args.repeats * (1 if pause else 10)
                a, b = timed(slow, n, pause), timed(fast, n, pause)
                print(
                    f"{label:>18s} {side:>5s} {pause * 1e3:5.1f} ms {np.median(a):8.1f} us {np.percentile(a, 99):7.1f} "
                    f"{np.median(b):6.1f} us {np.percentile(b, 99):7.1f} {np.median(a) / np.median(b):5.1f}x",
                    flush=True,
                )


if __name__ == "__main__":
    main()
