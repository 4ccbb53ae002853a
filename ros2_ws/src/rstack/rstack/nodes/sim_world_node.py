"""sim_world_node: franky-sim's libfranka server on the MuJoCo wiping world, plus sim cameras and tactile.

Thin: parameters, message conversion, the reset service. The world, its physics thread, rendering,
tactile model and success metric are `hardware.sim`. The arm itself is driven by `franka_node`,
which connects to this node's embedded server at `host` exactly as it would to a robot.

Publishes the same camera (rgb8 + camera_info, sensor QoS) and tactile topics as the real drivers,
stamped with the time of the physics instant they show (sim time, published on /clock, when the node
runs with use_sim_time as in the sim profile; wall time otherwise), /sim/episode (latched JSON: params,
status, outcome) and /sim/privileged_state (JSON ground truth for the scripted expert).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import deque
from typing import Any

import numpy as np
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import String

from hardware.sim.flight_recorder import COMMUNICATION_LIMIT_STEPS
from hardware.tactile.wire import encode_tactile_array
from rstack import graph
from rstack.node_support import ERROR, OK, WARN, GraphNode, run_node, s_to_stamp

SIM_TACTILE_NAME = "tool"


class SimWorldNode(GraphNode):
    _closing = False

    def __init__(self) -> None:
        super().__init__(graph.SIM_WORLD, "sim_world")
        p = self.params
        if "mujoco" not in __import__("sys").modules:  # the GL backend is chosen when mujoco is imported
            os.environ.setdefault("MUJOCO_GL", p["mujoco_gl"])
            os.environ.setdefault("PYOPENGL_PLATFORM", p["mujoco_gl"])
        from hardware.sim.world import SimWorld, WorldConfig

        sensors = list(p["tactile_sensors"])
        if sensors not in ([], [SIM_TACTILE_NAME]):
            raise ValueError(f"tactile_sensors: the sim has one tactile pad named {SIM_TACTILE_NAME!r}, got {sensors}")
        self.sim_clock = bool(self.get_parameter("use_sim_time").value)
        if self.sim_clock:
            # The world is the clock: it stamps from physics directly and must not also subscribe to the
            # /clock it publishes (processing its own 500 Hz clock would slow the physics thread).
            from rclpy.parameter import Parameter

            self.set_parameters([Parameter("use_sim_time", value=False)])
        config = WorldConfig(
            host=p["host"],
            seed=int(p["seed"]),
            scenario=p["scenario"],
            cameras=tuple(p["cameras"]),
            camera_width=int(p["camera_width"]),
            camera_height=int(p["camera_height"]),
            camera_rate_hz=float(p["camera_rate_hz"]),
            tactile_rate_hz=float(p["tactile_rate_hz"]),
            render_meshes=p["render_meshes"],
            realtime=float(p["realtime"]),
            sim_clock=self.sim_clock,
            flight_log_dir=str(p["flight_log_dir"]),
        )
        self.world = SimWorld(config)
        self.image_pubs = {c: self.graph_publisher(graph.CAMERA_IMAGE, name=c) for c in config.cameras}
        self.info_pubs = {c: self.graph_publisher(graph.CAMERA_INFO, name=c) for c in config.cameras}
        self.infos: dict[str, CameraInfo] = {}
        self.flow_pub = self.embedding_pub = None
        if sensors:
            self.flow_pub = self.graph_publisher(graph.TACTILE_MARKER_FLOW, name=SIM_TACTILE_NAME)
            self.embedding_pub = self.graph_publisher(graph.TACTILE_EMBEDDING, name=SIM_TACTILE_NAME)
        self.episode_pub = self.graph_publisher(graph.SIM_EPISODE)
        self.privileged_pub = self.graph_publisher(graph.SIM_PRIVILEGED_STATE)
        self.graph_service(graph.SIM_RESET_EPISODE, self._srv_reset)
        self.graph_service(graph.SIM_RELEASE, self._srv_release)
        self.frames = {c: 0 for c in config.cameras}
        self.tactile_count = 0
        self.frame_times: deque[float] = deque(maxlen=100)
        self.tactile_times: deque[float] = deque(maxlen=100)
        self._published_version = -1
        self._rtf_ref = (time.monotonic(), 0.0)
        self.rtf = 0.0

        self.world.start()
        if self.sim_clock:
            self.clock_pub = self.graph_publisher(graph.CLOCK)
            threading.Thread(target=self._clock_loop, name="sim-clock", daemon=True).start()
        self.world.start_sensor_loops(
            self._on_frames if config.cameras else None, self._on_tactile if sensors else None
        )
        self.create_timer(1.0 / max(float(p["privileged_rate_hz"]), 1e-3), self._publish_state)
        self.add_diagnostic(self._diagnostic)
        self.get_logger().info(
            f"sim world up: libfranka server on {self.world.host}, scenario {config.scenario!r}, "
            f"seed {config.seed}, cameras {list(config.cameras)} at {config.camera_rate_hz} Hz, "
            f"tactile {sensors} at {config.tactile_rate_hz} Hz"
        )

    def _clock_loop(self) -> None:
        """Publish the physics time on /clock whenever it advanced, every `clock_period_s` of wall time.

        Every sim-time node processes each /clock message: 2 ms cost a third of the sim's speed on a
        2-core machine, 5 ms (2-3 ms of sim time at the usual real-time factor) almost nothing."""
        period_s = float(self.params["clock_period_s"])
        from rosgraph_msgs.msg import Clock

        last = -1.0
        while self.context.ok() and not self._closing:
            t = self.world.sim_time
            if t > last:
                last = t
                self.clock_pub.publish(Clock(clock=s_to_stamp(t)))
            time.sleep(period_s)

    # ------------------------------------------------------------------ sensors (world threads)
    def _on_frames(self, images: dict[str, np.ndarray], stamp_s: float, rig: Any) -> None:
        stamp = s_to_stamp(stamp_s)
        for name, img in images.items():
            info = self.infos.get(name)
            if info is None:
                info = self.infos[name] = self._camera_info(rig.intrinsics(name), f"{name}_color_optical_frame")
            msg = Image()
            msg.header.stamp = stamp
            msg.header.frame_id = info.header.frame_id
            msg.height, msg.width = int(img.shape[0]), int(img.shape[1])
            msg.encoding = "rgb8"
            msg.is_bigendian = 0
            msg.step = int(img.shape[1] * 3)
            msg.data = img.tobytes()
            self.image_pubs[name].publish(msg)
            info.header.stamp = stamp
            self.info_pubs[name].publish(info)
            self.frames[name] += 1
        self.frame_times.append(time.monotonic())

    @staticmethod
    def _camera_info(intr: Any, frame_id: str) -> CameraInfo:
        msg = CameraInfo()
        msg.header.frame_id = frame_id
        msg.width, msg.height = intr.width, intr.height
        msg.distortion_model = intr.distortion_model
        msg.d = intr.d
        msg.k = intr.k
        msg.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
        msg.p = intr.p
        return msg

    def _on_tactile(self, field: np.ndarray, embedding: np.ndarray, stamp_s: float) -> None:
        self.embedding_pub.publish(encode_tactile_array(embedding, ["features"], stamp_s))  # first: the fast head's
        self.flow_pub.publish(encode_tactile_array(field, ["rows", "cols", "xy"], stamp_s))
        self.tactile_count += 1
        self.tactile_times.append(time.monotonic())

    # ------------------------------------------------------------------ episode state
    def _publish_state(self) -> None:
        if self.world.version != self._published_version:
            self._published_version = self.world.version
            record = self.world.episode_record()
            self.episode_pub.publish(String(data=json.dumps(record)))
            outcome = record.get("outcome")
            if outcome:
                self.get_logger().info(
                    f"episode {outcome['episode']}: {outcome['kind']} at {outcome['time_s']:.2f} s, "
                    f"coverage {outcome['coverage']:.2f}, max force {outcome['max_force_n']:.1f} N"
                )
        self.privileged_pub.publish(String(data=json.dumps(self.world.privileged_state())))

    def _srv_release(self, _req: Any, resp: Any) -> Any:
        from hardware.sim.world import ResetRefused

        try:
            z = self.world.release_table()
        except ResetRefused as exc:
            resp.success, resp.message = False, str(exc)
            return resp
        resp.success, resp.message = True, f"table lowered to {z:.4f} m"
        self.get_logger().warning(f"release: {resp.message} to free the arm")
        return resp

    def _srv_reset(self, _req: Any, resp: Any) -> Any:
        from hardware.sim.world import ResetRefused

        try:
            params = self.world.reset_episode()
        except ResetRefused as exc:
            resp.success, resp.message = False, str(exc)
            self.get_logger().warning(f"reset refused: {exc}")
            return resp
        resp.success = True
        resp.message = json.dumps(params.to_dict())
        self.get_logger().info(
            f"episode {params.episode}: table top {params.table_top_z:.4f} m, scenario {params.scenario!r}"
        )
        return resp

    # ------------------------------------------------------------------ diagnostics
    @staticmethod
    def _rate(times: deque[float]) -> float:
        if len(times) < 2 or times[-1] <= times[0]:
            return 0.0
        return (len(times) - 1) / (times[-1] - times[0])

    def _diagnostic(self) -> Any:
        w = self.world
        now, sim_t = time.monotonic(), w.sim_time
        t0, s0 = self._rtf_ref
        if now - t0 > 0.5:
            self.rtf = (sim_t - s0) / (now - t0)
            self._rtf_ref = (now, sim_t)
        values: dict[str, Any] = {
            "host": w.host,
            "sim_time_s": f"{sim_t:.2f}",
            "real_time_factor": f"{self.rtf:.2f}",
            "camera_rate_hz": f"{self._rate(self.frame_times):.1f}",
            "tactile_rate_hz": f"{self._rate(self.tactile_times):.1f}",
            "frames": self.frames,
            "tactile_published": self.tactile_count,
            "episode": w.params.episode if w.params else -1,
            "episodes_decided": len(w.outcomes),
            "physics_errors": w.physics_errors,
            "last_error": w.last_physics_error or w.sensor_error,
        }
        gap = 0  # the libfranka client's longest command gap, when the flight recorder counts them
        if w.flight is not None:
            gap = w.flight.max_gap_steps
            values.update(client_max_gap_steps=gap, flight_records=len(w.flight.saved), flight_note=w.flight_note)
        rig = w.camera_rig
        if rig is not None:
            for name, ms in rig.render_ms.items():
                if ms:
                    values[f"render_{name}_p50_ms"] = f"{np.percentile(np.asarray(ms), 50):.1f}"
        if not w.physics_alive:
            level, msg = ERROR, "physics thread stopped"
        elif w.physics_errors or w.sensor_error:
            level, msg = WARN, f"errors: {w.last_physics_error or w.sensor_error}"
        elif gap > COMMUNICATION_LIMIT_STEPS:
            level = WARN
            msg = (
                f"the libfranka client missed {gap} consecutive steps (a real Franka stops after "
                f"{COMMUNICATION_LIMIT_STEPS}: communication_constraints_violation)"
            )
        else:
            level, msg = OK, "running"
        return self.status(level, msg, values, name="world")

    def close(self) -> None:
        self._closing = True
        self.world.stop()


def main(args: list[str] | None = None) -> int:
    return run_node(SimWorldNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
