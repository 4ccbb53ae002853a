"""The slow planner in a process of its own, so the fast head never waits for it on the GIL.

In one process, onnxruntime releases the GIL inside each graph call, but the planner's numpy work around
them (the DDIM update between denoiser calls, batching, decoding B chunks) holds it, and the fast thread's
tick waits behind it: that was the fast path's p99 (tens of ms) while the planner ran. Here a child
process (started with "spawn": no inherited ROS or onnxruntime threads) owns the planner's sessions
(observation encoder, denoiser, chunk decoder) and, in streaming mode, the rolling buffer; the control
process sends it one observation (a few tens of kB over a pipe) and blocks on the reply with the GIL
released. The fast head's session stays in the control process.

Given an image feed (`ChildImages`), the child also takes the camera frames itself (in the node: a ROS
subscription made there) into a `CameraWindow`; the control process then sends only the query times, the
pose/gripper/touch window and its stamps, and never handles an image.

A child that dies or stops answering makes `step` raise `PlannerProcessError`; the planner loop counts
it, plans expire and the fast loop holds, exactly as for a planner error in-process.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
import threading
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np

from hardware.realtime import drop_realtime
from policy_runtime.engine.policy_engine import PlannerResult, PolicyEngine, planner_step
from policy_runtime.models.streaming import StreamingBuffer
from policy_runtime.runtime.camera_window import CameraWindow, ImageFeed

READY_TIMEOUT_S = 60.0


class PlannerProcessError(RuntimeError):
    """The planner process failed to start, died, or raised while planning."""


@dataclass(frozen=True)
class ChildImages:
    """Camera frames delivered in the planner process by `feed` (see `camera_window`), not sent by the parent."""

    feed: ImageFeed
    max_skew_s: float
    max_age_s: float


def _serve(
    conn: Connection,
    bundle_dir: str,
    num_samples: int,
    streaming: bool,
    seed: int,
    nice: int,
    images: ChildImages | None,
) -> None:
    """Child main: load the planner's graphs, then answer one `planner_step` per request until told to stop."""
    drop_realtime()  # bulk work: started by a real-time node process, it must not compete with its fast path
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    # Ctrl-C reaches the whole process group; the parent shuts this child down through the pipe.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stop_feed = None
    try:
        if nice:
            os.nice(nice)
        engine = PolicyEngine(bundle_dir)
        rng = np.random.default_rng(seed)
        stream = engine.streaming_buffer(num_samples, rng) if streaming else None
        window = None
        if images is not None:
            s = engine.bundle.shapes
            size = (int(s["image_size"][0]), int(s["image_size"][1]))
            window = CameraWindow(engine.cameras, size, images.max_skew_s, images.max_age_s)
            stop_feed = images.feed(window.push)
        conn.send(("ready", {"providers": engine.providers, "pid": os.getpid()}))
    except Exception as exc:  # the parent raises it with this text
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    try:
        while True:
            try:
                msg = conn.recv()
            except (EOFError, OSError):  # the parent is gone
                return
            if msg is None:
                return
            try:
                conn.send(_answer(msg, engine, rng, num_samples, stream, window))
            except Exception as exc:
                conn.send(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"))
    finally:
        if stop_feed is not None:
            with contextlib.suppress(Exception):
                stop_feed()


def _answer(
    msg: tuple,
    engine: PolicyEngine,
    rng: np.random.Generator,
    num_samples: int,
    stream: StreamingBuffer | None,
    window: CameraWindow | None,
) -> tuple:
    """One request: ("obs", images, proprio, touch) or ("at", times, spans, proprio, touch) -> a reply tuple."""
    kind = msg[0]
    extra: dict = {}
    if kind == "obs":
        _, images, proprio, touch = msg
    elif kind == "at":
        if window is None:
            raise RuntimeError("this planner process was started without an image feed")
        _, times, spans, proprio, touch = msg
        extra = window.stats()
        found = window.at(times, spans)
        if isinstance(found, str):
            return ("hold", found, extra)
        images, extra["image_stamp_s"] = found
    else:
        raise ValueError(f"unknown request {kind!r}")
    out = planner_step(engine, images, proprio, touch, rng, num_samples=num_samples, stream=stream)
    return ("ok", out, extra)


class PlannerProcess:
    """`step(images, proprio, touch) -> PlannerResult`, computed by `planner_step` in a child process.

    One request at a time (the planner loop is one thread); `close()` stops the child. `nice` > 0 lowers
    the child's CPU priority below the control process's (Linux niceness; 0 leaves it equal). With `images`
    the child receives the camera frames itself and `step_at` asks for a plan at given query times.
    """

    def __init__(
        self,
        bundle_dir: str | Path,
        num_samples: int,
        streaming: bool = False,
        seed: int = 0,
        nice: int = 0,
        reply_timeout_s: float = 30.0,
        images: ChildImages | None = None,
    ) -> None:
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self.reply_timeout_s = reply_timeout_s
        self._lock = threading.Lock()
        self.camera_stats: dict[str, float] = {}
        self._proc = ctx.Process(
            target=_serve,
            args=(child, str(bundle_dir), int(num_samples), bool(streaming), int(seed), int(nice), images),
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

    def _request(self, msg: tuple) -> tuple:
        with self._lock:
            try:
                self._conn.send(msg)
            except (BrokenPipeError, OSError) as exc:
                raise PlannerProcessError(f"planner process died: exit code {self._proc.exitcode}") from exc
            reply = self._recv(self.reply_timeout_s, "planning")
        if reply[0] == "error":
            raise PlannerProcessError(f"planner process: {reply[1]}")
        return reply

    def step(self, images: dict[str, np.ndarray], proprio: np.ndarray, touch: np.ndarray) -> PlannerResult:
        """Plan from the observation given here (images included)."""
        return self._request(("obs", images, proprio, touch))[1]

    def step_at(
        self, times: list[float], spans: list[tuple[float, float]], proprio: np.ndarray, touch: np.ndarray
    ) -> tuple[PlannerResult, float] | str:
        """Plan with the child's own camera frames at `times` (see `CameraWindow.at`).

        Returns the result and the newest frame stamp used, or the reason to hold (no fitting frames).
        """
        kind, payload, extra = self._request(("at", list(times), list(spans), proprio, touch))
        self.camera_stats = {k: v for k, v in extra.items() if k.startswith("camera_")}
        if kind == "hold":
            return payload
        return payload, float(extra["image_stamp_s"])

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
