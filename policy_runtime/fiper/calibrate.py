"""Calibrate a FIPER monitor for one policy: train RND, score successful rollouts, conformal thresholds.

`calibrate_monitor` is what `rstack fiper calibrate` runs. The rollouts are scored exactly as at run
time (the exported RND graph through onnxruntime, the same ACE grid and window sums), so the live
windowed scores and the thresholds are comparable.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from policy_runtime.fiper.ace import (
    DEFAULT_CELL_FRACTION,
    action_chunk_entropy,
    calibration_range,
    cell_size,
    choose_cell_fraction,
)
from policy_runtime.fiper.artifacts import (
    IndicatorThresholds,
    MonitorArtifacts,
    PolicyIdentity,
    load_artifacts,
    save_artifacts,
)
from policy_runtime.fiper.conformal import (
    BAND_DILATE,
    band_thresholds,
    check_delta,
    conformal_rank,
    constant_threshold,
    rollout_maxima,
)
from policy_runtime.fiper.conformal import time_varying_thresholds as tv_thresholds
from policy_runtime.fiper.rnd import RNDConfig, RNDOnnxScorer, check_embeddings, export_rnd_onnx, train_rnd
from policy_runtime.fiper.rollouts import CalibrationRollout, check_consistent
from policy_runtime.fiper.window import check_window, windowed_sums

DEFAULT_DELTA = 0.1
DEFAULT_WINDOW = 10
THRESHOLD_KINDS = ("constant", "band")


def _thresholds(
    series: list[np.ndarray], window: int, delta: float, kind: str = "constant", dilate: int = BAND_DILATE
) -> IndicatorThresholds:
    windowed = [windowed_sums(s, window) for s in series]
    return IndicatorThresholds(
        constant=constant_threshold(windowed, delta),
        time_varying=tuple(float(x) for x in tv_thresholds(windowed, delta)),
        rollout_maxima=tuple(float(x) for x in rollout_maxima(windowed)),
        band=tuple(float(x) for x in band_thresholds(windowed, delta, dilate)) if kind == "band" else (),
    )


def ace_series(chunks: np.ndarray, cell: np.ndarray) -> np.ndarray:
    """Per-step ACE [T] of one rollout's chunks [T, B, H, 3]."""
    return np.array([action_chunk_entropy(c, cell) for c in chunks])


def calibrate_monitor(
    train_embeddings: np.ndarray,
    rollouts: list[CalibrationRollout],
    policy: PolicyIdentity,
    out_dir: str | Path,
    delta: float = DEFAULT_DELTA,
    window: int = DEFAULT_WINDOW,
    cell_fraction: float | str = DEFAULT_CELL_FRACTION,
    rnd_config: RNDConfig | None = None,
    log: Callable[[str], None] | None = None,
    thresholds: str = "constant",
    band_dilate: int = BAND_DILATE,
) -> MonitorArtifacts:
    """Train, calibrate and write the monitor artifacts to `out_dir`; returns them (as loaded back).

    `thresholds`: "constant" (FIPER's default) or "band" (a functional conformal band, see `conformal`)."""
    log = log or (lambda _msg: None)
    if thresholds not in THRESHOLD_KINDS:
        raise ValueError(f"thresholds must be one of {', '.join(THRESHOLD_KINDS)}, got {thresholds!r}")
    check_delta(delta)
    window = check_window(window)
    if not rollouts:
        raise ValueError("calibration needs at least one successful rollout")
    conformal_rank(len(rollouts), delta)  # refuse an impossible (M, delta) before training anything
    d, b, h = check_consistent(rollouts)
    if policy.embedding_dim is not None and policy.embedding_dim != d:
        raise ValueError(f"the rollouts' embeddings have dimension {d}, the policy declares {policy.embedding_dim}")
    train = check_embeddings(train_embeddings, d, what="training-demo embeddings")
    config = rnd_config or RNDConfig()

    log(f"training RND on {train.shape[0]} training-demo embeddings (D={d}, {config.steps} steps)")
    model = train_rnd(train, config, log=log)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out) as tmp:
        onnx_path = export_rnd_onnx(model, Path(tmp) / "rnd.onnx", {"fiper.policy": policy.fingerprint})
        scorer = RNDOnnxScorer(onnx_path)
        rnd_series = [scorer.score(r.embedding) for r in rollouts]

        cal_range = calibration_range(np.concatenate([r.chunks.reshape(-1, 3) for r in rollouts]))
        if cell_fraction == "auto":
            steps = [c for r in rollouts for c in r.chunks]
            cell_fraction, medians = choose_cell_fraction(steps, cal_range)
            table = ", ".join(f"{f:g}: {m:.2f}" for f, m in medians.items())
            log(f"ACE cell fraction {cell_fraction:g} (median ACE per candidate, bits of {np.log2(b):.0f}: {table})")
        elif isinstance(cell_fraction, str):
            raise ValueError(f"ACE cell fraction must be a number in (0, 1] or 'auto', got {cell_fraction!r}")
        cell = cell_size(cal_range, cell_fraction)
        ace = [ace_series(r.chunks, cell) for r in rollouts]
        log(f"calibrating on M={len(rollouts)} rollouts, delta={delta}, window={window}, B={b}, H={h}")

        art = MonitorArtifacts(
            policy=policy,
            embedding_dim=d,
            num_rollouts=len(rollouts),
            delta=delta,
            window=window,
            ace_cell_fraction=float(cell_fraction),
            ace_calibration_range=tuple(float(x) for x in cal_range),  # type: ignore[arg-type]
            ace_cell_size=tuple(float(x) for x in cell),  # type: ignore[arg-type]
            ace_num_samples=b,
            ace_horizon=h,
            rnd=_thresholds(rnd_series, window, delta, thresholds, band_dilate),
            ace=_thresholds(ace, window, delta, thresholds, band_dilate),
            rnd_config=config.as_dict(),
            num_train_embeddings=int(train.shape[0]),
        )
        save_artifacts(art, out, onnx_path)
    saved = load_artifacts(out)
    log(f"thresholds: rnd {saved.rnd.describe()}, ace {saved.ace.describe()} -> {out}")
    return saved
