"""The Franka arm: franky driver (`driver`), its safety envelope (`safety_envelope`, pure logic),
typed state and targets (`state`), command watchdog and rejection accounting."""

from hardware.franka.rejections import RejectionLog
from hardware.franka.safety_envelope import Decision, EnvelopeConfig, SafetyEnvelope
from hardware.franka.state import ArmState, GripperCommand, JointTarget, PoseTarget
from hardware.franka.watchdog import CommandWatchdog

__all__ = [
    "ArmState",
    "CommandWatchdog",
    "Decision",
    "EnvelopeConfig",
    "GripperCommand",
    "JointTarget",
    "PoseTarget",
    "RejectionLog",
    "SafetyEnvelope",
]
