"""Sim world figures: real-time factor, camera render time and rate (per camera), tactile rate.

Runs the world in-process (franky-sim server on a random loopback address, no client connected)
for a few seconds per configuration, side by side in one run so the ratios compare like with like:
physics alone, + tactile (30 Hz), + cameras (2 x 320x240 at 15 Hz, collision meshes), and the
detailed visual meshes. Prints medians and p99. Usage: .venv/bin/python bench/bench_sim.py [--seconds S]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "osmesa")
os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from tqdm import tqdm

from hardware.sim.world import SimWorld, WorldConfig


def run(cfg: WorldConfig, seconds: float) -> dict:
    world = SimWorld(cfg)
    frames: list[float] = []
    tactile: list[float] = []
    world.start()
    world.start_sensor_loops(lambda imgs, stamp, rig: frames.append(stamp), lambda f, e, stamp: tactile.append(stamp))
    time.sleep(1.0)  # warm-up: renderer contexts, first frames
    s0, t0, nf, nt = world.sim_time, time.monotonic(), len(frames), len(tactile)
    time.sleep(seconds)
    rtf = (world.sim_time - s0) / (time.monotonic() - t0)
    out = {
        "rtf": rtf,
        "camera_hz": (len(frames) - nf) / seconds,
        "tactile_hz": (len(tactile) - nt) / seconds,
        "render_ms": {},
    }
    if world.camera_rig is not None:
        for name, ms in world.camera_rig.render_ms.items():
            a = np.asarray(ms)
            out["render_ms"][name] = (float(np.percentile(a, 50)), float(np.percentile(a, 99)), len(a))
    world.stop()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=8.0)
    args = ap.parse_args()
    host = f"127.{random.randint(1, 254)}.{random.randint(0, 255)}.{random.randint(1, 254)}"
    configs = {
        "physics only": WorldConfig(host=host, camera_rate_hz=0.0, tactile_rate_hz=0.0),
        "+ tactile 30 Hz": WorldConfig(host=host, camera_rate_hz=0.0),
        "+ 2 cameras 15 Hz (collision meshes)": WorldConfig(host=host),
        "+ 2 cameras 15 Hz (visual meshes)": WorldConfig(host=host, render_meshes="visual"),
    }
    results = {}
    for name, cfg in tqdm(configs.items(), desc="configurations"):
        results[name] = run(cfg, args.seconds)
    base = results["physics only"]["rtf"]
    print(
        f"\nsim world, {args.seconds:.0f} s per configuration, {os.cpu_count()} CPUs, "
        f"MUJOCO_GL={os.environ['MUJOCO_GL']}"
    )
    for name, r in results.items():
        print(
            f"{name:40s} real-time factor {r['rtf']:.2f} (x{r['rtf'] / base:.2f} of physics only)  "
            f"camera {r['camera_hz']:.1f} Hz  tactile {r['tactile_hz']:.1f} Hz"
        )
        for cam, (p50, p99, n) in r["render_ms"].items():
            print(f"{'':40s}   render {cam:8s} median {p50:6.1f} ms  p99 {p99:6.1f} ms  (n={n})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
