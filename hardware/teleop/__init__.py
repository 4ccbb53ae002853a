"""Teleoperation devices and the twist-to-target integrator (ROS-free).

Every device produces `TeleopCommand`s (a twist, a gripper toggle, episode keys); `TargetIntegrator`
turns them into Cartesian pose targets anchored at the measured TCP. A device that goes quiet (key
released, puck centred, device unplugged) stops producing motion: the integrator then emits no target
and the arm driver's command watchdog holds the arm (the deadman).
"""

from hardware.teleop.command import EpisodeKey, TeleopCommand
from hardware.teleop.integrator import IntegratorLimits, TargetIntegrator
from hardware.teleop.keyboard import KEY_HELP, KeyboardDecoder, RawTerminal
from hardware.teleop.spacemouse import SpaceMouseMapper, open_spacemouse

__all__ = [
    "KEY_HELP",
    "EpisodeKey",
    "IntegratorLimits",
    "KeyboardDecoder",
    "RawTerminal",
    "SpaceMouseMapper",
    "TargetIntegrator",
    "TeleopCommand",
    "open_spacemouse",
]
