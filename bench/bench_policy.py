"""Policy runtime benchmark: fast head ORT vs torch, planner full DDIM vs streaming, batched sampling.

Run: ``.venv/bin/python bench/bench_policy.py [--quick]``. Also times a whole control tick cold (after a 24 Hz
period asleep), prewarmed 1 ms before (the policy node's `prewarm_ms`), and with new plans also taken between ticks
(as the node's fast loop does). Builds a policy at the default
model sizes (weights from a few training steps on a synthetic dataset: timing does not depend on them), exports
the bundle, and measures everything in one run, interleaving the compared variants round by round so
that load from other processes hits them alike. Prints medians and p99 (ms) and the ratios.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from machine_load import MachineLoad  # bench/, beside this script

from policy_runtime.engine.policy_engine import PolicyEngine, planner_step
from policy_runtime.export.onnx_export import build_graph_modules, export_bundle
from policy_runtime.training.config import load_config
from policy_runtime.training.synthetic import write_synthetic_dataset
from policy_runtime.training.trainer import PolicyTrainer


def interleaved(fns: dict[str, Callable[[], object]], rounds: int, per_round: int) -> dict[str, np.ndarray]:
    """Time each fn `rounds * per_round` times, alternating fns every round. Returns ms per call."""
    out: dict[str, list[float]] = {k: [] for k in fns}
    for fn in fns.values():
        fn()  # warm-up
    for _ in range(rounds):
        for name, fn in fns.items():
            for _ in range(per_round):
                t0 = time.perf_counter()
                fn()
                out[name].append((time.perf_counter() - t0) * 1e3)
    return {k: np.asarray(v) for k, v in out.items()}


def report(title: str, times: dict[str, np.ndarray], base: str) -> None:
    print(f"\n## {title}")
    print(f"{'variant':42s} {'n':>6s} {'p50 ms':>9s} {'p99 ms':>9s} {'p50 vs ' + base:>14s}")
    ref = np.median(times[base])
    for name, t in times.items():
        p50, p99 = np.median(t), np.percentile(t, 99)
        print(f"{name:42s} {len(t):6d} {p50:9.3f} {p99:9.3f} {p50 / ref:13.2f}x")


def build_bundle(work: Path) -> tuple[Path, Path]:
    data = write_synthetic_dataset(work / "data.zarr", episodes=4, steps=64, touch_dim=15, image_hw=(240, 320))
    cfg = load_config(
        None,
        {
            "data": {"path": str(data)},
            "out_dir": str(work / "run"),
            "tokenizer": {"steps": 2, "batch_size": 16},
            "diffusion": {"steps": 2, "batch_size": 4},
        },
    )
    trainer = PolicyTrainer(cfg)
    ckpt = trainer.train(progress=False)
    # training step cost at the default sizes, and the default run's projected wall time
    defaults = load_config()
    tok = [time_call(trainer.tokenizer_step) for _ in range(10)]
    diff = [time_call(trainer.diffusion_step) for _ in range(10)]
    print("\n## training step at default sizes (this machine, torch threads as set)")
    trainer.cfg.tokenizer.batch_size, trainer.cfg.diffusion.batch_size = (
        defaults.tokenizer.batch_size,
        defaults.diffusion.batch_size,
    )
    tok = [time_call(trainer.tokenizer_step) for _ in range(10)]
    diff = [time_call(trainer.diffusion_step) for _ in range(10)]
    total = defaults.tokenizer.steps * np.median(tok) + defaults.diffusion.steps * np.median(diff)
    print(
        f"tokenizer step (batch {defaults.tokenizer.batch_size}): p50 {np.median(tok):.0f} ms; "
        f"diffusion step (batch {defaults.diffusion.batch_size}): p50 {np.median(diff):.0f} ms; "
        f"default run ({defaults.tokenizer.steps} + {defaults.diffusion.steps} steps) ~ {total / 60e3:.1f} min"
    )
    return ckpt, export_bundle(ckpt, work / "bundle", progress=False)


def time_call(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1e3


def cold_vs_warm_ticks(
    engine: PolicyEngine, threads: int, latent: np.ndarray, touch: np.ndarray, rounds: int, per_round: int = 24
) -> dict[str, np.ndarray]:
    """ms of `ReactiveRuntime.tick` (decoder steps, target, guard) back to back, after sleeping a 24 Hz period, after
    the same sleep with `ReactiveRuntime.warm` 1 ms before the tick, and with each new plan also taken between ticks
    (`ReactiveRuntime.prepare`, as the node's fast loop does when a plan is posted), alternated round by round. A new
    plan every 4 ticks, as the node's 6 Hz planner gives, posted mid-period and planned from an observation 170 ms
    old (the planner's latency): without `prepare` the tick that takes it decodes ~5 steps."""
    from policy_runtime.models.action_space import relative_action_to_target
    from policy_runtime.runtime import ActionGuard, GuardLimits, Plan, PlanSlot, ReactiveRuntime, TouchHistory

    s = engine.bundle.shapes
    slot, hist = PlanSlot(), TouchHistory(int(s["touch_dim"]))
    rate = float(engine.bundle.rates.get("control_hz", 24.0))
    rt = ReactiveRuntime(engine.fast_head(intra_threads=threads), slot, hist, rate, int(s["horizon"]),
                         ActionGuard(GuardLimits(max_jump_m=1.0)), to_target=relative_action_to_target)  # fmt: skip
    base = np.array([0.5, 0.0, 0.3, 1.0, 0.0, 0.0, 0.0])
    period, lead, seq = 1.0 / 24.0, 0.001, [0]
    hist.push(time.monotonic() - 1.0, touch)

    def tick(sleep_s: float, warm: bool, prepare: bool) -> float:
        seq[0] += 1
        if seq[0] % 4 == 1:
            slot.post(Plan(latent, time.monotonic() + sleep_s / 2 - 0.17, base, seq=seq[0]))
        if sleep_s:
            time.sleep(sleep_s / 2)
        if prepare:
            rt.prepare(time.monotonic())
        if warm:
            time.sleep(sleep_s / 2 - lead)
            rt.warm(time.monotonic())
            time.sleep(lead)
        elif sleep_s:
            time.sleep(sleep_s / 2)
        now = time.monotonic()
        hist.push(now - 0.0005, touch)
        t0 = time.perf_counter()
        rt.tick(now)
        return (time.perf_counter() - t0) * 1e3

    variants = {"back to back (hot)": (0.0, False, False), "asleep 41.7 ms, cold": (period, False, False),
                "asleep 41.7 ms, warmed 1 ms before": (period, True, False),
                "asleep, warmed, plans taken between ticks": (period, True, True)}  # fmt: skip
    out: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(rounds):
        for name, args in variants.items():
            out[name] += [tick(*args) for _ in range(per_round)]
    return {k: np.asarray(v[2:]) for k, v in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions")
    ap.add_argument("--threads", type=int, default=1, help="torch and onnxruntime intra-op threads")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    q = 0.2 if args.quick else 1.0
    with tempfile.TemporaryDirectory() as tmp:
        ckpt, bundle = build_bundle(Path(tmp))
        spec, mods, _ = build_graph_modules(ckpt)
        engine = PolicyEngine(bundle, planner_threads=args.threads)
        s = engine.bundle.shapes
        print(
            f"providers {engine.providers}; threads {args.threads}; default sizes: images {s['image_size']} x "
            f"{len(engine.cameras)} cameras, latent {s['latent_steps']}x{s['latent_dim']}, UNet {spec.unet.down_dims}, "
            f"DDIM N={len(engine.table)}, streaming h={engine.bundle.manifest['diffusion']['streaming_chunks']}"
        )
        load = MachineLoad()
        rng = np.random.default_rng(0)
        latent = rng.standard_normal(engine.latent_shape).astype(np.float32)
        touch = rng.standard_normal(s["touch_dim"]).astype(np.float32)

        # ---- fast head: one decoder step
        head = engine.fast_head(intra_threads=args.threads)
        head.start(latent)
        plain = head.graph.session
        feeds = {"latent": latent[None], "touch": touch[None], "hidden": np.zeros((1, 1, s["gru_hidden"]), np.float32)}
        step_mod = mods["decoder_step"]
        tl, tt, th = torch.from_numpy(latent[None]), torch.from_numpy(touch[None]), torch.zeros(1, 1, s["gru_hidden"])

        def torch_step() -> object:
            with torch.inference_mode():
                return step_mod(tl, tt, th)

        times = interleaved(
            {
                "ORT FastHead (IO binding)": lambda: head.step(touch),
                "ORT session.run": lambda: plain.run(None, feeds),
                "torch eager (inference_mode)": torch_step,
            },
            rounds=int(20 * q) or 2,
            per_round=100,
        )
        report("fast head: decoder one step (B=1)", times, "torch eager (inference_mode)")

        # ---- a whole control tick after a control period asleep: cold vs prewarmed (the node's prewarm_ms)
        ticks = cold_vs_warm_ticks(engine, args.threads, latent, touch, rounds=int(4 * q) or 2)
        report(
            "control tick after 41.7 ms asleep (24 Hz): cold, prewarmed, plans taken early",
            ticks,
            "asleep 41.7 ms, cold",
        )

        # ---- planner per observation: full DDIM vs streaming
        images = {
            c: rng.integers(0, 256, (s["obs_steps"], *s["image_size"], 3), dtype=np.uint8) for c in engine.cameras
        }
        proprio = rng.standard_normal((s["obs_steps"], 4)).astype(np.float32) * 0.1
        touch_obs = rng.standard_normal((s["obs_steps"], s["touch_dim"])).astype(np.float32)
        stream = engine.streaming_buffer(1, np.random.default_rng(1))
        prng = np.random.default_rng(2)
        evals = {}

        def full() -> None:
            evals["full DDIM"] = planner_step(engine, images, proprio, touch_obs, prng, 1).evaluations

        def streaming() -> None:
            evals["streaming"] = planner_step(engine, images, proprio, touch_obs, prng, stream=stream).evaluations

        emb = np.ones((1, s["emb_dim"]), np.float32)
        x = rng.standard_normal((1, *engine.latent_shape)).astype(np.float32)
        t = np.zeros((1, s["latent_steps"]), np.float32)
        times = interleaved(
            {
                "full DDIM (encode+N evals+decode)": full,
                "streaming (encode+N/h evals+dec)": streaming,
                "one denoiser evaluation": lambda: engine.eps(x, t, emb),
                "observation encoder": lambda: engine.encode_obs(
                    {c: v[None] for c, v in images.items()}, proprio[None], touch_obs[None]
                ),
            },
            rounds=int(10 * q) or 2,
            per_round=10,
        )
        report("planner cost per observation (B=1)", times, "full DDIM (encode+N evals+decode)")
        print(f"denoiser evaluations per observation: full {evals['full DDIM']}, streaming {evals['streaming']}")

        # ---- batched sampling for the failure monitor
        fns = {}
        for b in (1, 64, 256):
            fns[f"DDIM + decode, B={b}"] = lambda b=b: planner_step(engine, images, proprio, touch_obs, prng, b)
        times = interleaved(fns, rounds=int(5 * q) or 2, per_round=3)
        report("sampling cost vs batch (one observation, N evals at batch B)", times, "DDIM + decode, B=1")
        for b in (64, 256):
            per = np.median(times[f"DDIM + decode, B={b}"]) / b
            print(f"B={b}: {per:.3f} ms per sample vs {np.median(times['DDIM + decode, B=1']):.3f} ms at B=1")
        print(load.summary())


if __name__ == "__main__":
    main()
