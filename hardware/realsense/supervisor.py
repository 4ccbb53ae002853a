"""Keep one camera streaming: open by serial, read, notice a stall or an unplug, reconnect (ROS-free).

`CameraSupervisor` runs a thread that opens the camera through a `DeviceProvider`, hands every frame
to `on_frame`, and, when no frame came for `reconnect_after_s` or the device is gone, closes it and
tries again every `retry_period_s` until it is back. Nothing here raises into the caller: errors
become `status()` (and the optional `log`), so an unplugged camera never takes a node down.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

from hardware.realsense.camera import CameraConfig, CameraFrame, DeviceLostError, RealSenseCamera
from hardware.realsense.devices import DeviceProvider


class CameraSupervisor:
    """Stream from `provider` with reconnects; `on_frame(frame, camera)` runs on the supervisor's thread."""

    def __init__(
        self,
        provider: DeviceProvider,
        config: CameraConfig,
        on_frame: Callable[[CameraFrame, RealSenseCamera], None],
        stale_after_s: float = 0.5,
        reconnect_after_s: float = 2.0,
        retry_period_s: float = 1.0,
        log: Callable[[str, str], None] | None = None,
    ) -> None:
        self.provider = provider
        self.config = config
        self.on_frame = on_frame
        self.stale_after_s = stale_after_s
        self.reconnect_after_s = reconnect_after_s
        self.retry_period_s = retry_period_s
        self.log = log or (lambda level, msg: None)
        self.camera: RealSenseCamera | None = None
        self.connects = 0
        self.reconnects = 0
        self.last_error = ""
        self._last_frame = time.monotonic()
        self._totals = {"frames": 0, "dropped": 0, "late": 0, "depth_unpaired": 0}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="camera-supervisor", daemon=True)

    def start(self) -> CameraSupervisor:
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout=timeout_s)
        self._close()

    # ------------------------------------------------------------------ loop
    def _open(self) -> bool:
        try:
            dev = self.provider.open(self.config.serial)
            cam = RealSenseCamera(dev, self.config, playback=self.provider.playback)
            cam.start()
        except (RuntimeError, ValueError) as exc:  # not connected, mode not offered, SDK error
            msg = str(exc)
            if msg != self.last_error:
                self.log("error" if self.connects == 0 else "warn", f"camera not available: {msg}")
            self.last_error = msg
            return False
        with self._lock:
            self.camera = cam
            if self.connects:
                self.reconnects += 1
            self.connects += 1
        self.last_error = ""
        self._last_frame = time.monotonic()
        self.log("info", f"camera {cam.serial} streaming {cam.mode}" + (" (reconnected)" if self.reconnects else ""))
        return True

    def _close(self) -> None:
        with self._lock:
            cam, self.camera = self.camera, None
        if cam is not None:
            for k in self._totals:
                self._totals[k] += getattr(cam.counters, k)
            cam.stop()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._step()
            except Exception as exc:  # the loop must outlive any bug or SDK surprise
                self.last_error = f"{type(exc).__name__}: {exc}"
                with contextlib.suppress(Exception):
                    self.log("error", f"camera loop: {self.last_error}; reconnecting")
                self._close()
                self._stop.wait(self.retry_period_s)

    def _step(self) -> None:
        """One pass: (re)open, or read and hand over one frame."""
        if self.camera is None and not self._open():
            self._stop.wait(self.retry_period_s)
            return
        cam = self.camera
        assert cam is not None
        try:
            frame = cam.read(timeout_s=0.05)
        except (DeviceLostError, RuntimeError) as exc:
            self.last_error = str(exc)
            self.log("warn", f"camera lost: {exc}; reconnecting")
            self._close()
            self._stop.wait(self.retry_period_s)
            return
        if frame is None:
            if time.monotonic() - self._last_frame > self.reconnect_after_s:
                self.last_error = f"no frame for {self.reconnect_after_s:.1f} s"
                self.log("warn", f"camera {cam.serial}: {self.last_error}; reconnecting")
                self._close()
            return
        self._last_frame = time.monotonic()
        try:
            self.on_frame(frame, cam)
        except Exception as exc:  # a consumer bug must not stop the camera
            self.log("error", f"frame handler failed: {type(exc).__name__}: {exc}")

    # ------------------------------------------------------------------ state
    def age_s(self) -> float:
        return time.monotonic() - self._last_frame

    def stale(self) -> bool:
        return self.camera is None or self.age_s() > self.stale_after_s

    def status(self) -> dict[str, Any]:
        """Counters over every connection so far, plus the current state, for diagnostics."""
        with self._lock:
            cam = self.camera
            totals = dict(self._totals)
            if cam is not None:
                for k in totals:
                    totals[k] += getattr(cam.counters, k)
        return {
            "connected": cam is not None,
            "serial": cam.serial if cam else self.config.serial,
            "mode": cam.mode if cam else "",
            "timestamp_domain": cam.last_domain if cam else "",
            **totals,
            "age_s": round(self.age_s(), 3),
            "stale": self.stale(),
            "connects": self.connects,
            "reconnects": self.reconnects,
            "last_error": self.last_error,
        }
