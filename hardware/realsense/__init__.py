"""RealSense cameras through pyrealsense2 (ROS-free): device seam, driver, stamping, reconnects."""

from hardware.realsense.camera import CameraConfig, CameraFrame, DeviceLostError, RealSenseCamera
from hardware.realsense.clock import DeviceClockMapper, ros_stamp_s
from hardware.realsense.devices import (
    CameraNotFoundError,
    PlaybackProvider,
    StaticProvider,
    UsbProvider,
    provider_for,
    select_by_serial,
)
from hardware.realsense.supervisor import CameraSupervisor

__all__ = [
    "CameraConfig",
    "CameraFrame",
    "CameraNotFoundError",
    "CameraSupervisor",
    "DeviceClockMapper",
    "DeviceLostError",
    "PlaybackProvider",
    "RealSenseCamera",
    "StaticProvider",
    "UsbProvider",
    "provider_for",
    "ros_stamp_s",
    "select_by_serial",
]
