"""FIPER scoring cost per planner step: RND through onnxruntime, ACE at B=64 and B=256, and a full
`FailureMonitor.step` (both scores, windows, thresholds, rule), each as median and p99 in ms.

    .venv/bin/python bench/bench_fiper.py [--dim 128] [--horizon 32] [--iters 500]

The RND pair has the default (CPU-sized) widths; its weights barely matter for the cost, so it is
trained for a few steps only. Absolute times depend on the machine: compare ratios.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from policy_runtime.fiper.ace import action_chunk_entropy
from policy_runtime.fiper.artifacts import PolicyIdentity
from policy_runtime.fiper.calibrate import calibrate_monitor
from policy_runtime.fiper.monitor import FailureMonitor
from policy_runtime.fiper.rnd import RNDConfig
from policy_runtime.fiper.rollouts import CalibrationRollout


def timed(fn: Callable[[], object], iters: int) -> tuple[float, float]:
    for _ in range(min(20, iters)):
        fn()
    ts = np.empty(iters)
    for i in range(iters):
        t0 = time.perf_counter()
        fn()
        ts[i] = time.perf_counter() - t0
    return float(np.median(ts) * 1e3), float(np.percentile(ts, 99) * 1e3)


def monitor_for(tmp: Path, d: int, b: int, h: int, rng: np.random.Generator) -> FailureMonitor:
    def chunks(t: int) -> np.ndarray:
        path = np.linspace([0.4, 0.0, 0.3], [0.5, 0.1, 0.25], h)
        return (path[None, None] + 0.003 * rng.normal(size=(t, b, h, 3))).astype(np.float32)

    rollouts = [CalibrationRollout(f"r{i}", rng.normal(size=(5, d)).astype(np.float32), chunks(5)) for i in range(10)]
    train = rng.normal(size=(256, d)).astype(np.float32)
    ident = PolicyIdentity("sha256:bench", d)
    config = replace(RNDConfig(), steps=5)
    calibrate_monitor(train, rollouts, ident, tmp / f"b{b}", delta=0.1, window=10, rnd_config=config)
    return FailureMonitor.load(tmp / f"b{b}")


def bench_samples(tmp: Path, d: int, b: int, h: int, iters: int, rng: np.random.Generator, with_rnd: bool) -> list:
    """Print the rows for one number of samples B; returns the RND session's providers."""
    mon = monitor_for(tmp, d, b, h, rng)
    emb = rng.normal(size=d).astype(np.float32)
    cloud = (np.array([0.45, 0.05, 0.28]) + 0.02 * rng.normal(size=(b, h, 3))).astype(np.float32)
    cell = np.asarray(mon.artifacts.ace_cell_size)
    rows = [
        (f"ACE B={b}", lambda: action_chunk_entropy(cloud, cell)),
        (f"FailureMonitor.step B={b}", lambda: mon.step(emb, cloud)),
    ]
    if with_rnd:
        rows.insert(0, ("RND (onnxruntime), any B", lambda: mon.scorer.score(emb[None])))
    for name, fn in rows:
        med, p99 = timed(fn, iters)
        print(f"{name:<34}{med:>10.3f}{p99:>10.3f}")
    return mon.scorer.providers


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dim", type=int, default=128, help="observation embedding size D")
    ap.add_argument("--horizon", type=int, default=32, help="chunk horizon H")
    ap.add_argument("--iters", type=int, default=500)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    d, h = args.dim, args.horizon
    print(f"FIPER scoring cost per planner step (D={d}, H={h}, {args.iters} iterations), ms")
    print(f"{'what':<34}{'median':>10}{'p99':>10}")
    providers: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for b in (64, 256):
            providers = bench_samples(Path(tmp), d, b, h, args.iters, rng, with_rnd=b == 64)
    print(f"providers: {providers}")


if __name__ == "__main__":
    main()
