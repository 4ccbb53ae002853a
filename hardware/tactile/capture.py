"""Frames from an optical tactile sensor through OpenCV `VideoCapture` (ROS-free).

The sensor is a UVC camera (`source` = device index "0" or a /dev/video path) or a video file
(paced at `fps`, since a file reads as fast as it can). `TactileCapture` runs the read loop on a
thread and survives the sensor going away: a failed read or the end of a file closes the source
and it is reopened every `retry_period_s`; state is in `status()`, never raised into the caller.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from hardware.timing import CycleTimer


class SourceError(RuntimeError):
    """The tactile sensor cannot be opened."""


class VideoSource:
    """One cv2.VideoCapture; `read()` returns a BGR uint8 frame or None when the source ended or failed."""

    def __init__(self, source: str, width: int = 0, height: int = 0, fps: float = 0.0) -> None:
        self.source = str(source)
        self.is_device = self.source.isdigit() or self.source.startswith("/dev/")
        self.width, self.height, self.fps = width, height, fps
        self._cap: Any = None

    def open(self) -> None:
        if not self.is_device and not Path(self.source).is_file():
            raise SourceError(f"tactile source {self.source!r}: no such device index, /dev path or video file")
        target: int | str = int(self.source) if self.source.isdigit() else self.source
        cap = cv2.VideoCapture(target)
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"tactile source {self.source!r} could not be opened by OpenCV")
        if self.is_device:
            if self.width and self.height:
                cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
                cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
            if self.fps:
                cap.set(cv2.CAP_PROP_FPS, self.fps)
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # newest frame, not a backlog
        self._cap = cap

    def read(self) -> np.ndarray | None:
        if self._cap is None:
            return None
        ok, frame = self._cap.read()
        if not ok or frame is None:
            return None
        if frame.ndim == 2:
            frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
        if not self.is_device and self.width and self.height and frame.shape[1::-1] != (self.width, self.height):
            frame = cv2.resize(frame, (self.width, self.height), interpolation=cv2.INTER_AREA)
        return frame

    def release(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class TactileCapture:
    """Read loop with reopen: `on_frame(image, stamp_s)` runs on the capture thread.

    `stamp_s` is the host wall time of the read minus `latency_s` (exposure + transfer of the sensor;
    UVC timestamps are not reliably exposed through OpenCV).
    """

    def __init__(
        self,
        source: VideoSource,
        on_frame: Callable[[np.ndarray, float], None],
        fps: float = 30.0,
        stale_after_s: float = 0.5,
        retry_period_s: float = 1.0,
        latency_s: float = 0.0,
        log: Callable[[str, str], None] | None = None,
    ) -> None:
        self.source = source
        self.on_frame = on_frame
        self.fps = fps
        self.stale_after_s = stale_after_s
        self.retry_period_s = retry_period_s
        self.latency_s = latency_s
        self.log = log or (lambda level, msg: None)
        self.frames = 0
        self.opens = 0
        self.failures = 0
        self.last_error = ""
        self.connected = False
        self._last_frame = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tactile-capture", daemon=True)

    def start(self) -> TactileCapture:
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout=timeout_s)
        self.source.release()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._session()
            except Exception as exc:  # the loop must outlive any bug or driver surprise
                self.connected = False
                self.last_error = f"{type(exc).__name__}: {exc}"
                with contextlib.suppress(Exception):
                    self.log("error", f"tactile capture loop: {self.last_error}; reopening")
                self.source.release()
                self._stop.wait(self.retry_period_s)

    def _session(self) -> None:
        """Open the source and read it until it fails or ends."""
        if self._stop.is_set():
            return
        try:
            self.source.open()
        except SourceError as exc:
            if str(exc) != self.last_error:
                self.log("error" if self.opens == 0 else "warn", str(exc))
            self.last_error = str(exc)
            self._stop.wait(self.retry_period_s)
            return
        self.opens += 1
        self.connected = True
        self.last_error = ""
        self.log("info", f"tactile source {self.source.source!r} open" + (" (reopened)" if self.opens > 1 else ""))
        timer = CycleTimer(self.fps) if not self.source.is_device else None
        while not self._stop.is_set():
            frame = self.source.read()
            if frame is None:
                self.failures += 1
                self.last_error = "source ended" if not self.source.is_device else "read failed (unplugged?)"
                self.log("warn", f"tactile source {self.source.source!r}: {self.last_error}; reopening")
                break
            self._last_frame = time.monotonic()
            self.frames += 1
            try:
                self.on_frame(frame, time.time() - self.latency_s)
            except Exception as exc:
                self.log("error", f"tactile frame handler failed: {type(exc).__name__}: {exc}")
            if timer is not None:
                timer.wait()
        self.connected = False
        self.source.release()
        self._stop.wait(self.retry_period_s)

    def age_s(self) -> float:
        return time.monotonic() - self._last_frame

    def stale(self) -> bool:
        return not self.connected or self.age_s() > self.stale_after_s

    def status(self) -> dict[str, Any]:
        return {
            "source": self.source.source,
            "connected": self.connected,
            "frames": self.frames,
            "age_s": round(self.age_s(), 3),
            "stale": self.stale(),
            "opens": self.opens,
            "failures": self.failures,
            "last_error": self.last_error,
        }
