"""3Dconnexion SpaceMouse through pyspacemouse (hidapi): puck displacement -> twist, buttons -> gripper.

The puck springs back to centre when released, which stops motion (deadman). A dead zone removes drift.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hardware.teleop.command import TeleopCommand


def open_spacemouse() -> Any:
    """Open the first SpaceMouse, or raise with what to install / plug in."""
    try:
        import pyspacemouse
    except ImportError as exc:
        raise RuntimeError(
            "SpaceMouse support needs `pip install pyspacemouse` and the hidapi library "
            f"(`sudo apt-get install -y libhidapi-hidraw0`): {exc}"
        ) from None
    device = pyspacemouse.open()
    if not device:
        raise RuntimeError("no SpaceMouse found: check the USB connection and udev permissions for hidraw")
    return device


class SpaceMouseMapper:
    """Maps a pyspacemouse state (x, y, z, roll, pitch, yaw in [-1, 1], buttons) to a TeleopCommand."""

    def __init__(
        self,
        linear_speed_mps: float = 0.1,
        angular_speed_rps: float = 0.5,
        deadzone: float = 0.1,
        hold_s: float = 0.1,
    ) -> None:
        self.linear_speed = linear_speed_mps
        self.angular_speed = angular_speed_rps
        self.deadzone = deadzone
        self.hold_s = hold_s
        self._buttons: list[int] = []

    def _shape(self, v: np.ndarray) -> np.ndarray:
        mag = np.abs(v)
        scaled = np.where(mag > self.deadzone, (mag - self.deadzone) / (1 - self.deadzone), 0.0)
        return np.sign(v) * scaled

    def map(self, state: Any, now_s: float) -> TeleopCommand:
        lin = self._shape(np.array([state.x, state.y, state.z], float)) * self.linear_speed
        ang = self._shape(np.array([state.roll, state.pitch, state.yaw], float)) * self.angular_speed
        buttons = list(getattr(state, "buttons", []) or [])
        pressed = bool(buttons and buttons[0] and not (self._buttons and self._buttons[0]))
        self._buttons = buttons
        return TeleopCommand(linear=lin, angular=ang, until_s=now_s + self.hold_s, toggle_gripper=pressed)
