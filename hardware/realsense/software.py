"""A RealSense camera made of the SDK's `software_device`: frames injected through the real SDK.

Stands in for the USB camera in tests, benches and demos: the driver opens it exactly like a USB
device (same sensors, profiles, intrinsics, frame queues, timestamps, frame numbers), and it can
be recorded to a file with `rs.recorder`. Only the USB transport is missing.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyrealsense2 as rs

from calibration.camera_intrinsics import CameraIntrinsics

DOMAINS = {
    "hardware_clock": rs.timestamp_domain.hardware_clock,
    "global_time": rs.timestamp_domain.global_time,
    "system_time": rs.timestamp_domain.system_time,
}


def _rs_intrinsics(i: CameraIntrinsics) -> Any:
    out = rs.intrinsics()
    out.width, out.height = i.width, i.height
    out.fx, out.fy, out.ppx, out.ppy = i.fx, i.fy, i.ppx, i.ppy
    out.model = rs.distortion.brown_conrady
    out.coeffs = [float(c) for c in (*i.coeffs, 0, 0, 0, 0, 0)[:5]]
    return out


class SoftwareCamera:
    """A software D400-like device: an "RGB Camera" sensor (rgb8) and, optionally, a "Stereo Module" (z16)."""

    def __init__(
        self,
        serial: str,
        width: int = 64,
        height: int = 48,
        fps: int = 30,
        depth: bool = True,
        intrinsics: CameraIntrinsics | None = None,
        depth_units_m: float = 0.001,
    ) -> None:
        self.serial, self.width, self.height, self.fps = serial, width, height, fps
        self.intrinsics = intrinsics or CameraIntrinsics(
            width, height, fx=0.9 * width, fy=0.9 * width, ppx=width / 2 - 0.5, ppy=height / 2 + 0.25,
            model="brown_conrady", coeffs=(0.01, -0.02, 0.001, 0.0005, 0.003),
        )  # fmt: skip
        self.device = rs.software_device()
        self.device.register_info(rs.camera_info.serial_number, serial)
        self.device.register_info(rs.camera_info.name, "Software RealSense")
        self._color_sensor = self.device.add_sensor("RGB Camera")
        self._color_profile = self._add(self._color_sensor, rs.stream.color, rs.format.rgb8, 3, uid=1)
        self._depth_sensor = self._depth_profile = None
        self._keep: list[np.ndarray] = []  # the SDK reads pixels after on_video_frame returns
        if depth:
            self._depth_sensor = self.device.add_sensor("Stereo Module")
            self._depth_sensor.add_read_only_option(rs.option.depth_units, depth_units_m)
            self._depth_profile = self._add(self._depth_sensor, rs.stream.depth, rs.format.z16, 2, uid=0)
            ex = rs.extrinsics()
            ex.rotation = [1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0]
            ex.translation = [0.0, 0.0, 0.0]
            self._depth_profile.register_extrinsics_to(self._color_profile, ex)

    def _add(self, sensor: Any, stream: Any, fmt: Any, bpp: int, uid: int) -> Any:
        vs = rs.video_stream()
        vs.type, vs.index, vs.uid = stream, 0, uid
        vs.width, vs.height, vs.fps, vs.bpp, vs.fmt = self.width, self.height, self.fps, bpp, fmt
        vs.intrinsics = _rs_intrinsics(self.intrinsics)
        return sensor.add_video_stream(vs).as_video_stream_profile()

    def _push(self, sensor: Any, profile: Any, pixels: np.ndarray, number: int, ts_ms: float, dom: str) -> None:
        buf = np.ascontiguousarray(pixels)
        self._keep = [*self._keep[-7:], buf]
        f = rs.software_video_frame()
        f.pixels = buf.reshape(-1).view(np.uint8)
        f.bpp = buf.itemsize * (buf.shape[2] if buf.ndim == 3 else 1)
        f.stride = self.width * f.bpp
        f.timestamp = float(ts_ms)
        f.domain = DOMAINS[dom]
        f.frame_number = int(number)
        f.profile = profile
        sensor.on_video_frame(f)

    def inject(
        self,
        frame_number: int,
        timestamp_ms: float,
        color: np.ndarray | None = None,
        depth: np.ndarray | None = None,
        domain: str = "hardware_clock",
    ) -> None:
        """Deliver one frame (color HxWx3 uint8 RGB; depth HxW uint16) as the camera would."""
        if color is None:
            color = np.full((self.height, self.width, 3), frame_number % 256, np.uint8)
        if color.shape != (self.height, self.width, 3) or color.dtype != np.uint8:
            raise ValueError(f"color must be {self.height}x{self.width}x3 uint8, got {color.shape} {color.dtype}")
        self._push(self._color_sensor, self._color_profile, color, frame_number, timestamp_ms, domain)
        if self._depth_sensor is not None:
            if depth is None:
                depth = np.full((self.height, self.width), 500 + frame_number, np.uint16)
            self._push(self._depth_sensor, self._depth_profile, depth, frame_number, timestamp_ms, domain)
