"""Teleop node: a device (keyboard in a terminal/SSH, SpaceMouse) -> pose targets, gripper, episode keys.

Targets go to the arm's target topic and through its safety envelope like any other command. A quiet
device publishes no target, so the arm's command watchdog holds it (deadman).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import numpy as np
from geometry_msgs.msg import PoseStamped
from std_msgs.msg import Float64MultiArray, String

from hardware.teleop import (
    KEY_HELP,
    EpisodeKey,
    IntegratorLimits,
    KeyboardDecoder,
    RawTerminal,
    SpaceMouseMapper,
    TargetIntegrator,
    TeleopCommand,
    open_spacemouse,
)
from rstack import graph
from rstack.msg_convert import array_to_pose, pose_to_array
from rstack.node_support import ERROR, OK, GraphNode, run_node

_EPISODE_SERVICES = {
    EpisodeKey.START: graph.RECORDER_START,
    EpisodeKey.SUCCESS: graph.RECORDER_STOP_SUCCESS,
    EpisodeKey.FAILURE: graph.RECORDER_STOP_FAILURE,
    EpisodeKey.DISCARD: graph.RECORDER_DISCARD,
}


class TeleopNode(GraphNode):
    def __init__(self) -> None:
        super().__init__(graph.TELEOP, "teleop")
        p = self.params
        if p["device"] not in ("keyboard", "spacemouse"):
            raise ValueError(f"parameter device: unknown teleop device {p['device']!r} (known: keyboard, spacemouse)")
        self.integrator = TargetIntegrator(IntegratorLimits(max_lead_m=p["max_lead_m"]))
        self.command = TeleopCommand()
        self.measured: np.ndarray | None = None
        self.gripper_open = True
        self.device_error = ""
        self.sent = 0
        self._lock = threading.Lock()
        self._halt = threading.Event()
        self.target_pub = self.graph_publisher(graph.FRANKA_TARGET_POSE)
        self.gripper_pub = self.graph_publisher(graph.FRANKA_GRIPPER_COMMAND)
        self.status_pub = self.graph_publisher(graph.TELEOP_STATUS)
        self.graph_subscription(graph.FRANKA_EE_POSE, self._on_pose)
        self.episode_clients = {k: self.graph_client(s) for k, s in _EPISODE_SERVICES.items()}
        self.create_timer(1.0 / p["rate_hz"], self._tick)
        self.add_diagnostic(self._diagnostic)
        reader = self._read_keyboard if p["device"] == "keyboard" else self._read_spacemouse
        self._reader = threading.Thread(target=reader, name="teleop-device", daemon=True)
        self._reader.start()
        self._status("ready")

    # ------------------------------------------------------------------ device threads
    def _read_keyboard(self) -> None:
        p = self.params
        decoder = KeyboardDecoder(p["linear_speed_mps"], p["angular_speed_rps"], p["key_hold_s"])
        try:
            with RawTerminal() as term:
                self.get_logger().info(KEY_HELP)
                while not self._halt.is_set():
                    for cmd in decoder.feed(term.read(0.05), time.monotonic()):
                        self._handle(cmd)
        except (RuntimeError, EOFError, OSError) as exc:
            self._device_failed(f"keyboard: {exc}")

    def _read_spacemouse(self) -> None:
        p = self.params
        mapper = SpaceMouseMapper(p["linear_speed_mps"], p["angular_speed_rps"])
        try:
            device = open_spacemouse()
            while not self._halt.is_set():
                self._handle(mapper.map(device.read(), time.monotonic()))
                time.sleep(1.0 / p["rate_hz"])
        except (RuntimeError, OSError) as exc:
            self._device_failed(f"spacemouse: {exc}")

    def _device_failed(self, reason: str) -> None:
        """The device is gone: motion stops (no more targets); the node stays up and says why."""
        with self._lock:
            self.command = TeleopCommand()
            self.device_error = reason
        self.get_logger().error(f"teleop device unavailable, holding: {reason}")
        self._status("device unavailable")

    def _handle(self, cmd: TeleopCommand) -> None:
        if cmd.quit:
            self.get_logger().info("quit key: stopping teleop")
            self._halt.set()
            os.kill(os.getpid(), signal.SIGINT)  # the same clean shutdown as Ctrl-C
            return
        if cmd.toggle_gripper:
            self._toggle_gripper()
        if cmd.episode is not None:
            self._episode(cmd.episode)
        if cmd.until_s > 0:
            with self._lock:
                self.command = cmd

    # ------------------------------------------------------------------ ROS side
    def _on_pose(self, msg: PoseStamped) -> None:
        self.measured = pose_to_array(msg)

    def _tick(self) -> None:
        with self._lock:
            cmd = self.command
        target = self.integrator.step(cmd, self.measured, time.monotonic(), 1.0 / self.params["rate_hz"])
        if target is None:
            return
        self.target_pub.publish(array_to_pose(target, self.get_clock().now().to_msg(), self.params["frame_id"]))
        self.sent += 1

    def _toggle_gripper(self) -> None:
        p = self.params
        self.gripper_open = not self.gripper_open
        width = p["gripper_open_width_m"] if self.gripper_open else 0.0
        force = 0.0 if self.gripper_open else p["gripper_force_n"]
        self.gripper_pub.publish(Float64MultiArray(data=[width, p["gripper_speed_mps"], force]))
        self._status("gripper open" if self.gripper_open else "gripper close")

    def _episode(self, key: EpisodeKey) -> None:
        client = self.episode_clients[key]
        if not client.service_is_ready():
            self.get_logger().warn(f"episode key {key.value}: recorder service {client.srv_name} is not available")
            return
        from std_srvs.srv import Trigger

        future = client.call_async(Trigger.Request())
        future.add_done_callback(
            lambda f, k=key: self.get_logger().info(f"episode {k.value}: {f.result().message if f.result() else f}")
        )
        self._status(f"episode {key.value}")

    def _status(self, event: str) -> None:
        state = {"device": self.params["device"], "event": event, "gripper_open": self.gripper_open}
        if self.device_error:
            state["error"] = self.device_error
        self.status_pub.publish(String(data=json.dumps(state)))

    def _diagnostic(self):
        if self.device_error:
            return self.status(ERROR, self.device_error, {"targets_sent": self.sent})
        return self.status(OK, "device ok", {"targets_sent": self.sent, "engaged": self.integrator.engaged})

    def close(self) -> None:
        self._halt.set()


def main() -> None:
    raise SystemExit(run_node(TeleopNode))
