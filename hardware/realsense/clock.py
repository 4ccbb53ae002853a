"""Device clock -> ROS (host wall) time for camera frames (ROS-free).

RealSense frames carry a capture timestamp in one of three domains:

- `global_time`: the SDK already maps the camera's hardware clock onto the host's system clock
  (`rs.option.global_time_enabled`); this is ROS time and is used as is.
- `hardware_clock`: the camera's own clock (ms since power-up); mapped here.
- `system_time`: the host's arrival time; used as is, but it includes USB transport, so
  diagnostics flag it.

`DeviceClockMapper` maps a device clock onto the host clock with the minimum-offset estimator:
offset = min over a sliding window of (host receive time - device stamp). The minimum is the
sample with the least transport delay, so jitter in arrival never leaks into the stamps; spacing of
stamps equals spacing of the device clock. It re-anchors when the device clock jumps (reconnect,
a recording played again, a clock reset).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

GLOBAL_TIME = "global_time"
HARDWARE_CLOCK = "hardware_clock"
SYSTEM_TIME = "system_time"


@dataclass
class DeviceClockMapper:
    """Map device-clock seconds to host seconds; `window` samples bound how fast drift is followed."""

    window: int = 300
    jump_s: float = 1.0
    resets: int = 0
    _samples: deque = field(default_factory=deque)
    _last_device_s: float | None = None

    def __post_init__(self) -> None:
        self._samples = deque(maxlen=self.window)

    def map(self, device_s: float, host_recv_s: float) -> float:
        """The host time at which the device clock read `device_s` (seconds)."""
        last = self._last_device_s
        if last is not None and (device_s < last or device_s - last > self.jump_s):
            self._samples.clear()
            self.resets += 1
        self._last_device_s = device_s
        self._samples.append(host_recv_s - device_s)
        return device_s + min(self._samples)

    @property
    def offset_s(self) -> float | None:
        return min(self._samples) if self._samples else None


def ros_stamp_s(
    timestamp_ms: float, domain: str, host_recv_s: float, mapper: DeviceClockMapper, playback: bool = False
) -> float:
    """A frame's capture time as ROS time (seconds), from its SDK timestamp and domain.

    A recording's stamps are history: on playback every domain is mapped onto the current clock.
    """
    device_s = timestamp_ms * 1e-3
    if not playback and domain in (GLOBAL_TIME, SYSTEM_TIME):
        return device_s
    return mapper.map(device_s, host_recv_s)
