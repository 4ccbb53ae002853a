"""Where a RealSense device comes from: the one seam between the driver and the hardware (ROS-free).

A `DeviceProvider` lists devices and opens one by serial. Everything behind it (profile choice,
frame handling, stamping, drop counting, intrinsics, reconnect) is the same for

- `UsbProvider`: cameras on USB, through `rs.context()` (the robot);
- `PlaybackProvider`: a recording (`.db3`; a legacy ROS1 `.bag` is converted by the SDK first),
  played through the SDK's playback device, as `rs.config.enable_device_from_file` resolves it;
- `StaticProvider`: devices the caller holds, e.g. an `rs.software_device` fed by `SoftwareCamera`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import pyrealsense2 as rs


class CameraNotFoundError(RuntimeError):
    """The requested camera is not connected (the message lists those that are)."""


def device_serial(dev: Any) -> str:
    try:
        return str(dev.get_info(rs.camera_info.serial_number))
    except RuntimeError:
        return "?"


def device_name(dev: Any) -> str:
    try:
        return str(dev.get_info(rs.camera_info.name))
    except RuntimeError:
        return "RealSense"


def select_by_serial(devices: Sequence[Any], serial: str, where: str = "USB") -> Any:
    """The device with `serial` (any device if `serial` is empty and exactly one is there).

    Raises CameraNotFoundError naming the serials that are connected.
    """
    found = [(device_serial(d), d) for d in devices]
    listing = ", ".join(f"{s} ({device_name(d)})" for s, d in found) or "none"
    if not serial:
        if len(found) == 1:
            return found[0][1]
        if not found:
            raise CameraNotFoundError(f"no RealSense camera connected ({where})")
        raise CameraNotFoundError(f"{len(found)} RealSense cameras connected ({where}): {listing}; set `serial`")
    for s, d in found:
        if s == serial:
            return d
    raise CameraNotFoundError(f"RealSense serial {serial!r} is not connected ({where}); connected: {listing}")


class DeviceProvider(Protocol):
    """Opens the device to stream from. `playback` says its stamps are history (see clock.ros_stamp_s)."""

    playback: bool

    def open(self, serial: str) -> Any: ...


class UsbProvider:
    """RealSense cameras on USB. Enables the SDK's global time so stamps arrive in host time."""

    playback = False

    def open(self, serial: str) -> Any:
        dev = select_by_serial(list(rs.context().query_devices()), serial, "USB")
        for sensor in dev.query_sensors():
            if sensor.supports(rs.option.global_time_enabled):
                sensor.set_option(rs.option.global_time_enabled, 1)
        return dev


class PlaybackProvider:
    """A recording played back through the SDK; real-time pacing unless `real_time=False`."""

    playback = True

    def __init__(self, path: str | Path, real_time: bool = True) -> None:
        self.path = Path(path)
        self.real_time = real_time
        self._converted: Path | None = None

    def _playable(self) -> Path:
        if not self.path.is_file():
            raise CameraNotFoundError(f"recording {str(self.path)!r} does not exist")
        if self.path.suffix == ".bag":  # SDK >= 2.57 plays ROS2 .db3; convert a legacy ROS1 .bag once
            if self._converted is None:
                out = Path(tempfile.mkdtemp(prefix="rs_bag_")) / (self.path.stem + ".db3")
                rs.context().convert_bag_to_db3(str(self.path), str(out))
                self._converted = out
            return self._converted
        return self.path

    def open(self, serial: str) -> Any:
        cfg = rs.config()
        cfg.enable_device_from_file(str(self._playable()), repeat_playback=False)
        dev = cfg.resolve(rs.pipeline_wrapper(rs.pipeline())).get_device()
        select_by_serial([dev], serial, f"recording {self.path.name}")
        dev.as_playback().set_real_time(self.real_time)
        return dev


class StaticProvider:
    """Devices held by the caller (software devices); `devices` is called on every open."""

    playback = False

    def __init__(self, devices: Callable[[], Sequence[Any]], where: str = "software") -> None:
        self.devices = devices
        self.where = where

    def open(self, serial: str) -> Any:
        return select_by_serial(list(self.devices()), serial, self.where)


def provider_for(source: str, real_time: bool = True) -> DeviceProvider:
    """ "" or "usb" -> USB cameras; a path to a .db3/.bag recording -> playback."""
    if source in ("", "usb"):
        return UsbProvider()
    if Path(source).suffix in (".db3", ".bag"):
        return PlaybackProvider(source, real_time=real_time)
    raise ValueError(f"camera source {source!r}: expected '' / 'usb' or a path to a .db3/.bag recording")
