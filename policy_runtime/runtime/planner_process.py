"""The slow planner in a process of its own, so the fast head never waits for it on the GIL.

In one process, onnxruntime releases the GIL inside each graph call, but the planner's numpy work around
them (the DDIM update between denoiser calls, batching, decoding B chunks) holds it, and the fast thread's
tick waits behind it: that was the fast path's p99 (tens of ms) while the planner ran. Here a child
process (started with "spawn": no inherited ROS or onnxruntime threads) owns the planner's sessions
(observation encoder, denoiser, chunk decoder) and, in streaming mode, the rolling buffer; the control
process sends it one observation (a few tens of kB over a pipe) and blocks on the reply with the GIL
released. The fast head's session stays in the control process.

A child that dies or stops answering makes `step` raise `PlannerProcessError`; the planner loop counts
it, plans expire and the fast loop holds, exactly as for a planner error in-process.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import threading
import traceback
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np

from policy_runtime.engine.policy_engine import PlannerResult

READY_TIMEOUT_S = 60.0


class PlannerProcessError(RuntimeError):
    """The planner process failed to start, died, or raised while planning."""


def _serve(conn: Connection, bundle_dir: str, num_samples: int, streaming: bool, seed: int, nice: int) -> None:
    """Child main: load the planner's graphs, then answer one `planner_step` per request until told to stop."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        if nice:
            os.nice(nice)
        from policy_runtime.engine.policy_engine import PolicyEngine, planner_step

        engine = PolicyEngine(bundle_dir)
        rng = np.random.default_rng(seed)
        stream = engine.streaming_buffer(num_samples, rng) if streaming else None
        conn.send(("ready", {"providers": engine.providers, "pid": os.getpid()}))
    except Exception as exc:  # the parent raises it with this text
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):  # the parent is gone
            return
        if msg is None:
            return
        images, proprio, touch = msg
        try:
            out = planner_step(engine, images, proprio, touch, rng, num_samples=num_samples, stream=stream)
            conn.send(("ok", out))
        except Exception as exc:
            conn.send(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"))


class PlannerProcess:
    """`step(images, proprio, touch) -> PlannerResult`, computed by `planner_step` in a child process.

    One request at a time (the planner loop is one thread); `close()` stops the child. `nice` > 0 lowers
    the child's CPU priority below the control process's (Linux niceness; 0 leaves it equal).
    """

    def __init__(
        self,
        bundle_dir: str | Path,
        num_samples: int,
        streaming: bool = False,
        seed: int = 0,
        nice: int = 0,
        reply_timeout_s: float = 30.0,
    ) -> None:
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self.reply_timeout_s = reply_timeout_s
        self._lock = threading.Lock()
        self._proc = ctx.Process(
            target=_serve,
            args=(child, str(bundle_dir), int(num_samples), bool(streaming), int(seed), int(nice)),
            name="rdp-planner",
            daemon=True,
        )
        self._proc.start()
        child.close()
        kind, info = self._recv(READY_TIMEOUT_S, "start")
        if kind != "ready":
            self.close()
            raise PlannerProcessError(f"planner process could not load {bundle_dir}: {info}")
        self.providers: list[str] = info["providers"]
        self.pid: int = info["pid"]

    def _recv(self, timeout_s: float, what: str):
        if not self._conn.poll(timeout_s):
            alive = self._proc.is_alive()
            raise PlannerProcessError(
                f"planner process {'did not answer' if alive else 'died'} within {timeout_s:.0f} s ({what})"
                + ("" if alive else f", exit code {self._proc.exitcode}")
            )
        try:
            return self._conn.recv()
        except (EOFError, OSError) as exc:
            raise PlannerProcessError(f"planner process died ({what}): exit code {self._proc.exitcode}") from exc

    def step(self, images: dict[str, np.ndarray], proprio: np.ndarray, touch: np.ndarray) -> PlannerResult:
        with self._lock:
            try:
                self._conn.send((images, proprio, touch))
            except (BrokenPipeError, OSError) as exc:
                raise PlannerProcessError(f"planner process died: exit code {self._proc.exitcode}") from exc
            kind, payload = self._recv(self.reply_timeout_s, "planning")
        if kind != "ok":
            raise PlannerProcessError(f"planner process: {payload}")
        return payload

    @property
    def alive(self) -> bool:
        return self._proc.is_alive()

    def close(self) -> None:
        if self._proc.is_alive():
            with contextlib.suppress(BrokenPipeError, OSError):
                self._conn.send(None)
            self._proc.join(timeout=2.0)
            if self._proc.is_alive():
                self._proc.kill()
                self._proc.join(timeout=2.0)
        self._conn.close()
