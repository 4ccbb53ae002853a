"""One RealSense camera through pyrealsense2: color (+ depth aligned to color), stamped, counted (ROS-free).

Works on any SDK device (USB camera, playback of a recording, software device): it opens the
device's color and depth sensors itself, each into its own SDK frame queue, pairs depth to color
by timestamp and aligns it with `rs.align`. The pairing is done here rather than by `rs.syncer`
because the syncer never pairs frames of a software device, and one code path for every source
is the point.

`read()` returns `CameraFrame`s with the capture time as ROS time (see `clock`), and keeps the
counters diagnostics need: frames, dropped (frame-number gaps), late (arrived more than
`late_after_s` after capture), frame-number resets.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyrealsense2 as rs

from calibration.camera_intrinsics import CameraIntrinsics
from hardware.realsense.clock import DeviceClockMapper, ros_stamp_s
from hardware.realsense.devices import device_serial

COLOR_FORMATS = (rs.format.rgb8, rs.format.bgr8)


class DeviceLostError(RuntimeError):
    """The device stopped delivering for good (unplugged, recording ended)."""


@dataclass(frozen=True)
class CameraConfig:
    """What to stream. 0 for width/height/fps means "whatever the device (or recording) offers"."""

    serial: str = ""
    width: int = 640
    height: int = 480
    fps: int = 30
    depth: bool = False
    late_after_s: float = 0.1


@dataclass
class CameraFrame:
    """One color image (RGB, HxWx3 uint8) with optional depth in mm aligned to it (HxW uint16)."""

    stamp_s: float
    frame_number: int
    color: np.ndarray
    depth_mm: np.ndarray | None
    host_recv_s: float
    domain: str


@dataclass
class FrameCounters:
    frames: int = 0
    dropped: int = 0
    late: int = 0
    resets: int = 0
    depth_unpaired: int = 0
    _last_number: int | None = None

    def count(self, frame_number: int, late: bool) -> None:
        """Count one delivered frame; a gap in frame numbers is frames the device or the SDK dropped."""
        self.frames += 1
        self.late += int(late)
        last = self._last_number
        if last is not None:
            if frame_number > last + 1:
                self.dropped += frame_number - last - 1
            elif frame_number <= last:
                self.resets += 1
        self._last_number = frame_number


def intrinsics_from_rs(intr: Any) -> CameraIntrinsics:
    """SDK `rs.intrinsics` -> CameraIntrinsics."""
    return CameraIntrinsics(
        width=int(intr.width),
        height=int(intr.height),
        fx=float(intr.fx),
        fy=float(intr.fy),
        ppx=float(intr.ppx),
        ppy=float(intr.ppy),
        model=str(intr.model).split(".")[-1],
        coeffs=tuple(float(c) for c in intr.coeffs),
    )


def _mode(p: Any) -> str:
    v = p.as_video_stream_profile()
    return f"{v.width()}x{v.height()}@{p.fps()} {str(p.format()).split('.')[-1]}"


def _pick_profile(dev: Any, stream: Any, formats: tuple, cfg: CameraConfig, exact: bool) -> tuple[Any, Any]:
    """(sensor, profile) of `stream` in one of `formats` matching the configured mode."""
    offered = []
    for sensor in dev.query_sensors():
        for p in sensor.get_stream_profiles():
            if p.stream_type() != stream or not p.is_video_stream_profile():
                continue
            offered.append(p)
            v = p.as_video_stream_profile()
            if p.format() not in formats:
                continue
            if exact and (
                (cfg.width and v.width() != cfg.width)
                or (cfg.height and v.height() != cfg.height)
                or (cfg.fps and p.fps() != cfg.fps)
            ):
                continue
            return sensor, p
    kind = str(stream).split(".")[-1]
    want = f"{cfg.width or '*'}x{cfg.height or '*'}@{cfg.fps or '*'}"
    modes = ", ".join(sorted({_mode(p) for p in offered})) or "none"
    raise ValueError(f"camera {device_serial(dev)}: no {kind} stream {want} (offered: {modes})")


class RealSenseCamera:
    """Stream color (+ aligned depth) from one opened SDK device."""

    def __init__(
        self, device: Any, config: CameraConfig, playback: bool = False, clock: Callable[[], float] = time.time
    ) -> None:
        self.device = device
        self.config = config
        self.playback = playback
        self.clock = clock
        self.serial = device_serial(device)
        self.counters = FrameCounters()
        self.mapper = DeviceClockMapper()
        exact = not playback  # a recording streams what it recorded
        self._color_sensor, self._color_profile = _pick_profile(device, rs.stream.color, COLOR_FORMATS, config, exact)
        self._depth_sensor = self._depth_profile = None
        self._depth_scale_mm = 1.0
        if config.depth:
            self._depth_sensor, self._depth_profile = _pick_profile(
                device, rs.stream.depth, (rs.format.z16,), config, False
            )
            if self._depth_sensor.supports(rs.option.depth_units):
                self._depth_scale_mm = float(self._depth_sensor.get_option(rs.option.depth_units)) * 1e3
        self._color_q = rs.frame_queue(4, keep_frames=True)
        self._depth_q = rs.frame_queue(4, keep_frames=True)
        self._pending_depth: list[Any] = []
        self._pair: list[Any] = []
        self._composer = rs.processing_block(self._compose)
        self._composed = rs.frame_queue(1, keep_frames=True)
        self._composer.start(self._composed)
        self._align = rs.align(rs.stream.color)
        self._started = False
        self.last_domain = ""

    # ------------------------------------------------------------------ lifecycle
    @property
    def intrinsics(self) -> CameraIntrinsics:
        """Color intrinsics from the SDK (depth is aligned to color, so they hold for depth too)."""
        return intrinsics_from_rs(self._color_profile.as_video_stream_profile().get_intrinsics())

    @property
    def mode(self) -> str:
        return _mode(self._color_profile)

    def start(self) -> None:
        """Open and start the sensors (a recording is held until all are started, so none misses frames)."""
        player = self.device.as_playback() if self.playback else None
        if self._depth_sensor is not None:
            self._depth_sensor.open(self._depth_profile)
        self._color_sensor.open(self._color_profile)
        if player is not None:
            player.pause()
        if self._depth_sensor is not None:
            self._depth_sensor.start(self._depth_q)
        self._color_sensor.start(self._color_q)
        if player is not None:
            player.resume()
        self._started = True

    def stop(self) -> None:
        """Stop and close the sensors; safe to call twice and on a device that is gone."""
        if not self._started:
            return
        self._started = False
        for sensor in (self._color_sensor, self._depth_sensor):
            if sensor is None:
                continue
            for step in (sensor.stop, sensor.close):
                with contextlib.suppress(RuntimeError):  # already stopped, or unplugged
                    step()
        self._pending_depth.clear()

    # ------------------------------------------------------------------ frames
    def _ended(self) -> bool:
        if not self.playback:
            return False
        return self.device.as_playback().current_status() == rs.playback_status.stopped

    def read(self, timeout_s: float = 0.1) -> CameraFrame | None:
        """The next frame, or None after `timeout_s` without one. DeviceLostError once a recording ended."""
        ok, color = self._color_q.try_wait_for_frame(max(1, int(timeout_s * 1e3)))
        if not ok:
            if self._ended():
                raise DeviceLostError(f"camera {self.serial}: recording ended")
            return None
        now = self.clock()
        recv = now
        # A recording's time_of_arrival is history too; only a live device's is this host's clock.
        if not self.playback and color.supports_frame_metadata(rs.frame_metadata_value.time_of_arrival):
            recv = color.get_frame_metadata(rs.frame_metadata_value.time_of_arrival) * 1e-3
        domain = str(color.get_frame_timestamp_domain()).split(".")[-1]
        stamp = ros_stamp_s(color.get_timestamp(), domain, recv, self.mapper, self.playback)
        number = int(color.get_frame_number())
        self.counters.count(number, late=(now - stamp) > self.config.late_after_s)
        self.last_domain = domain
        rgb = np.array(color.get_data(), copy=True)
        if color.get_profile().format() == rs.format.bgr8:
            rgb = np.ascontiguousarray(rgb[..., ::-1])
        depth = self._aligned_depth(color) if self._depth_sensor is not None else None
        return CameraFrame(stamp, number, rgb, depth, recv, domain)

    def _aligned_depth(self, color: Any) -> np.ndarray | None:
        """The depth frame captured with `color`, aligned to it (mm), or None if it did not come."""
        period_ms = 1e3 / max(1, self._color_profile.fps())
        t_color = color.get_timestamp()
        deadline = time.monotonic() + period_ms * 1e-3
        best = None
        while best is None:
            while f := self._depth_q.poll_for_frame():
                self._pending_depth.append(f)
            # keep only depth frames that may still pair with this or a later color frame
            self._pending_depth = [f for f in self._pending_depth if f.get_timestamp() > t_color - period_ms][-4:]
            near = [f for f in self._pending_depth if abs(f.get_timestamp() - t_color) <= period_ms / 2]
            if near:
                best = min(near, key=lambda f: abs(f.get_timestamp() - t_color))
                break
            if time.monotonic() > deadline:
                self.counters.depth_unpaired += 1
                return None
            time.sleep(0.001)
        self._pending_depth.remove(best)
        self._pair = [color, best]
        self._composer.invoke(color)
        frameset = self._composed.wait_for_frame(1000).as_frameset()
        self._pair = []
        depth = self._align.process(frameset).get_depth_frame()
        d = np.array(depth.get_data(), copy=True)
        if abs(self._depth_scale_mm - 1.0) > 1e-9:
            d = np.clip(np.rint(d * self._depth_scale_mm), 0, 65535).astype(np.uint16)
        return d

    def _compose(self, _frame: Any, source: Any) -> None:
        source.frame_ready(source.allocate_composite_frame(self._pair))
