"""onnxruntime execution providers and session options, chosen deliberately.

Providers: TensorRT -> CUDA -> CPU, keeping those `ort.get_available_providers()` reports.
Session options: a fixed intra-op thread count (1 for the fast head: its graph is tiny and a thread
pool only adds wake-up jitter), one inter-op thread with sequential execution (the graphs are
chains), full graph optimization, and no spin-waiting of idle pool threads, so the planner's
threads never burn the core the fast head needs.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import onnxruntime as ort

log = logging.getLogger(__name__)

PREFERENCE = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
OPT_LEVELS = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}


def select_providers(requested: Sequence[str] | None = None) -> list[str]:
    """Providers in preference order among the available ones (or the requested ones, if available)."""
    available = ort.get_available_providers()
    wanted = list(requested) if requested else list(PREFERENCE)
    missing = [p for p in wanted if p not in available]
    if requested and missing:
        raise ValueError(f"onnxruntime providers {missing} are not available here (available: {available})")
    chosen = [p for p in wanted if p in available]
    if "CPUExecutionProvider" not in chosen:
        chosen.append("CPUExecutionProvider")
    log.info("onnxruntime %s providers: %s (available: %s)", ort.__version__, chosen, available)
    return chosen


def session_options(intra_threads: int = 1, opt_level: str = "all", spinning: bool = False) -> ort.SessionOptions:
    if opt_level not in OPT_LEVELS:
        raise ValueError(f"graph optimization level {opt_level!r}: choose one of {sorted(OPT_LEVELS)}")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = intra_threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = OPT_LEVELS[opt_level]
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "1" if spinning else "0")
    return opts
