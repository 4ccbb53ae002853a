"""expert_node: the scripted wiping expert, driving the arm through the same topics as teleop or a policy.

Thin: the controller is `hardware.sim.expert.WipeExpert`. This node reads /franka/ee_pose and
/franka/wrench (the measured force closes the loop), the episode geometry from /sim/episode and the
sim clock from /sim/privileged_state, and publishes /franka/target_pose at `rate_hz`. It steps the
expert in *sim* time, so its speeds and force gains mean the same whatever the sim's real-time
factor. `run_episodes` resets the world through /sim/reset_episode and collects the outcomes.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import rclpy
from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from rclpy.parameter import Parameter
from std_msgs.msg import String
from std_srvs.srv import Trigger

from hardware.sim.expert import ExpertConfig, MoveTo, WipeExpert, WipeTask
from rstack import graph
from rstack.msg_convert import array_to_pose, pose_to_array
from rstack.node_support import stamp_to_s
from rstack.ros_types import topic_class, topic_qos


class ExpertNode(Node):
    """Publishes expert targets at a fixed rate; episodes are driven by `run_episode` from another thread."""

    def __init__(
        self,
        rate_hz: float = 30.0,
        frame_id: str = "base",
        config: ExpertConfig | None = None,
        use_sim_time: bool = True,
    ) -> None:
        # On the sim profile's clock (/clock), like every node of the profile: target stamps and the
        # force freshness check are then in the same time as the arm node's.
        super().__init__("sim_expert", parameter_overrides=[Parameter("use_sim_time", value=use_sim_time)])
        self.config = config or ExpertConfig()
        self.frame_id = frame_id
        self._lock = threading.Lock()
        self.ee: tuple[np.ndarray, np.ndarray] | None = None
        self.force_n = 0.0
        self.wrench_stamp = 0.0
        self.sim_time: float | None = None
        self._last_sim_time: float | None = None
        self.privileged: dict[str, Any] = {}
        self.records: dict[int, dict[str, Any]] = {}
        self.franka_status: dict[str, Any] = {}
        self.target: np.ndarray | None = None
        self.quat: np.ndarray | None = None
        self.expert: Any = None  # WipeExpert or any controller with step(dt, force) / lift() / done
        self.active = True  # False while another node (a policy) drives the arm
        self.max_lead_m = 0.03  # under the arm node's max step per target (5 cm by default)
        self.published = 0
        self._sub(graph.FRANKA_EE_POSE, self._on_pose)
        self._sub(graph.FRANKA_WRENCH, self._on_wrench)
        self._sub(graph.FRANKA_STATUS, self._on_status)
        self._sub(graph.SIM_EPISODE, self._on_episode)
        self._sub(graph.SIM_PRIVILEGED_STATE, self._on_privileged)
        self.pub = self.create_publisher(
            topic_class(graph.FRANKA_TARGET_POSE), graph.FRANKA_TARGET_POSE.name, topic_qos(graph.FRANKA_TARGET_POSE)
        )
        self.reset_client = self.create_client(Trigger, graph.SIM_RESET_EPISODE.name)
        self.release_client = self.create_client(Trigger, graph.SIM_RELEASE.name)
        self.recorder_clients = {
            s: self.create_client(Trigger, s.name)
            for s in (graph.RECORDER_START, graph.RECORDER_STOP_SUCCESS, graph.RECORDER_STOP_FAILURE)
        }
        self.franka_reset_client = self.create_client(Trigger, graph.FRANKA_RESET.name)
        self.create_timer(1.0 / rate_hz, self._tick)

    def _sub(self, topic: graph.Topic, cb: Callable[[Any], None]) -> None:
        self.create_subscription(topic_class(topic), topic.name, cb, topic_qos(topic))

    # ------------------------------------------------------------------ inputs
    def _on_pose(self, msg: PoseStamped) -> None:
        pose = pose_to_array(msg)
        self.ee = (pose[:3], pose[3:7])

    def _on_wrench(self, msg: Any) -> None:
        # Franka sign: the wrench the robot exerts on the environment; pressing down reads Fz < 0.
        self.force_n = max(0.0, -float(msg.wrench.force.z))
        self.wrench_stamp = stamp_to_s(msg.header.stamp)

    def _on_status(self, msg: String) -> None:
        try:
            self.franka_status = json.loads(msg.data)
        except ValueError:
            self.franka_status = {"mode": "unknown", "raw": msg.data}

    def _on_episode(self, msg: String) -> None:
        record = json.loads(msg.data)
        if "episode" in record:
            self.records[int(record["episode"])] = record

    def _on_privileged(self, msg: String) -> None:
        self.privileged = json.loads(msg.data)
        self.sim_time = float(self.privileged["sim_time"])

    # ------------------------------------------------------------------ output
    def _tick(self) -> None:
        if self.ee is None or not self.active:
            return
        with self._lock:
            if self.target is None:
                self.target, self.quat = self.ee[0].copy(), self.ee[1].copy()
            st = self.sim_time
            dt = 0.0 if st is None or self._last_sim_time is None else st - self._last_sim_time
            self._last_sim_time = st
            fresh_force = self.get_clock().now().nanoseconds * 1e-9 - self.wrench_stamp < 0.5
            if self.expert is not None and 0.0 < dt < 0.5:
                if not fresh_force:
                    self.expert.lift()  # never press blind
                self.target = self.expert.step(dt, self.force_n if fresh_force else 0.0)
            target, quat = self.target.copy(), self.quat
        # Never lead the measured TCP by more than the arm node accepts in one step: if the arm fell behind
        # (a held or rejected stretch), the target waits for it instead of running off out of reach.
        lead = target - self.ee[0]
        dist = float(np.linalg.norm(lead))
        if dist > self.max_lead_m:
            target = self.ee[0] + lead * (self.max_lead_m / dist)
        pose = np.concatenate([target, quat])
        self.pub.publish(array_to_pose(pose, self.get_clock().now().to_msg(), self.frame_id))
        self.published += 1

    # ------------------------------------------------------------------ episodes (call from a non-executor thread)
    def wait_ready(self, timeout_s: float = 60.0) -> None:
        """Wait for arm state, the sim clock and the reset service; raises TimeoutError naming what is missing."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            missing = [
                name
                for name, ok in (
                    (graph.FRANKA_EE_POSE.name, self.ee is not None),
                    (graph.FRANKA_WRENCH.name, self.wrench_stamp > 0),
                    (graph.SIM_PRIVILEGED_STATE.name, self.sim_time is not None),
                    (graph.SIM_RESET_EPISODE.name, self.reset_client.service_is_ready()),
                )
                if not ok
            ]
            if not missing:
                return
            time.sleep(0.1)
        raise TimeoutError(f"expert not ready after {timeout_s} s: nothing from {', '.join(missing)}")

    def _call(self, client: Any, timeout_s: float) -> Any:
        future = client.call_async(Trigger.Request())
        deadline = time.monotonic() + timeout_s
        while not future.done():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{client.srv_name} did not answer within {timeout_s} s")
            time.sleep(0.02)
        return future.result()

    def _recover_arm(self, attempts: int = 4) -> None:
        """Reset a stopped arm. One pressed into the table (the reset refuses: "free the arm") is freed
        first by lowering the table, as a person would on the robot."""
        for _ in range(attempts):
            if self.franka_status.get("mode") not in ("stopped", "error"):
                return
            resp = self._call(self.franka_reset_client, 10.0)
            if resp.success:
                time.sleep(0.3)  # the status that follows tells whether it stayed up
                continue
            if "free the arm" not in resp.message:
                raise RuntimeError(f"franka is {self.franka_status.get('mode')} and reset failed: {resp.message}")
            self._call(self.release_client, 10.0)
            time.sleep(1.0)
        if self.franka_status.get("mode") in ("stopped", "error"):
            raise RuntimeError(f"franka stays {self.franka_status.get('mode')} after {attempts} resets")

    def _lift_clear(self, timeout_s: float) -> None:
        """Lift straight up until the sim reports no pad contact (needed before a reset)."""
        deadline = time.monotonic() + timeout_s
        while self.privileged.get("in_contact") or self.privileged.get("collision"):
            if self.franka_status.get("mode") in ("stopped", "error"):
                self._recover_arm()
            with self._lock:
                if self.target is not None and (self.expert is None or self.expert.done):
                    self.target[2] += 0.002
            if time.monotonic() > deadline:
                raise TimeoutError("could not lift the tool off the table")
            time.sleep(0.05)

    def _go_to(self, goal: np.ndarray, timeout_s: float) -> None:
        """Drive the target to `goal` and wait until the measured TCP is within 1 cm of it."""
        with self._lock:
            start = self.target.copy() if self.target is not None else self.ee[0].copy()
            self.expert = MoveTo(start, goal)
        deadline = time.monotonic() + timeout_s
        while not (self.expert.done and self.ee is not None and np.linalg.norm(self.ee[0] - goal) < 0.01):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the arm did not reach the start pose {goal.round(3).tolist()}")
            time.sleep(0.05)

    def _run_external(self, external: Any, episode: int, deadline: float, task: WipeTask) -> dict[str, Any] | None:
        """Let `external` drive until the episode is decided, then take the arm back and lift (in the caller)."""
        with self._lock:
            self.active = False
        try:
            external.engage()
            outcome = None
            while time.monotonic() < deadline and outcome is None:
                sim_record = self.records.get(episode)
                outcome = sim_record.get("outcome") if sim_record else None
                time.sleep(0.05)
        finally:
            external.disengage()
            with self._lock:
                # Resume from where the arm is (not where this node last pointed it) and lift from there.
                here = self.ee[0].copy() if self.ee is not None else self.target
                self.target = here
                self.expert = WipeExpert(task, here, self.config)
                self.expert.lift()
                self.active = True
        return outcome

    def _record(self, service: graph.Service) -> str:
        client = self.recorder_clients[service]
        if not client.wait_for_service(timeout_sec=60.0):
            raise RuntimeError(f"recorder service {service.name} is not available")
        resp = self._call(client, 30.0)
        if not resp.success:
            raise RuntimeError(f"recorder refused {service.name}: {resp.message}")
        return resp.message

    def run_episode(
        self,
        wall_timeout_s: float = 300.0,
        record: bool = False,
        controller: Callable[[WipeTask, np.ndarray], Any] | None = None,
        external: Any = None,
        start_xyz: Any = None,
        observer: Any = None,
        finish_stroke: bool = True,
    ) -> dict[str, Any]:
        """Reset the world, run the expert until the episode is decided and the arm lifted; the outcome.

        `controller(task, start_xyz)` replaces the scripted expert with another in-process controller
        (same step/lift/done interface). `external` (with `engage()` / `disengage()`) hands the arm to
        another node for the episode instead: this node stops publishing until the episode is decided,
        then takes the arm back where it is and lifts it.
        With `record`, the recorder's episode spans the run: started after the reset, stopped as a
        success or a failure by the sim's own outcome once the tool is lifted. With `start_xyz`, the arm is
        first brought there (so every controller starts every episode from the same pose). `observer`
        (`start()` / `stop()`) spans the episode from the reset to the sim's outcome.
        With `finish_stroke`, a controller told of a *success* finishes its own stroke and lifts by itself
        (as an operator wipes to the end of the path): the sim decides success the moment coverage reaches
        the bar, and abandoning there would end every demonstration just short of the path's end, teaching a
        policy to stop where any imprecision leaves it short. A failure still abandons at once.
        """
        self._recover_arm()
        self._lift_clear(30.0)
        if start_xyz is not None:
            self._go_to(np.asarray(start_xyz, dtype=np.float64), 120.0)
        resp = self._call(self.reset_client, 15.0)
        if not resp.success:
            raise RuntimeError(f"sim reset refused: {resp.message}")
        params = json.loads(resp.message)
        episode = int(params["episode"])
        tool_length = float(self.privileged.get("tool_length_m", 0.042))
        if record:
            self._record(graph.RECORDER_START)
        task = WipeTask.from_params(params, tool_length)
        with self._lock:
            start = self.target.copy() if self.target is not None else self.ee[0].copy()
            self.expert = controller(task, start) if controller else WipeExpert(task, start, self.config)
        deadline = time.monotonic() + wall_timeout_s
        outcome = None
        eased0 = int(self.franka_status.get("contact_limited", 0))
        if observer is not None:
            observer.start()
        if external is not None:
            outcome = self._run_external(external, episode, deadline, task)
        while time.monotonic() < deadline:
            sim_record = self.records.get(episode)
            outcome = sim_record.get("outcome") if sim_record else None
            with self._lock:
                if outcome is not None and not (finish_stroke and outcome.get("success")):
                    self.expert.lift()
                if self.expert.done and outcome is not None:
                    break
            time.sleep(0.05)
        with self._lock:
            self.expert.lift()
        if observer is not None:
            observer.stop()
        if outcome is None:
            raise TimeoutError(f"episode {episode} not decided within {wall_timeout_s} s wall time")
        # How often the arm's contact force limit pulled a target back during the episode (a count the driver keeps).
        outcome = {**outcome, "arm_contact_limited": int(self.franka_status.get("contact_limited", 0)) - eased0}
        if record:
            stop = graph.RECORDER_STOP_SUCCESS if outcome.get("success") else graph.RECORDER_STOP_FAILURE
            outcome = {**outcome, "recording": self._record(stop)}
        return outcome


def run_episodes(
    node: ExpertNode,
    episodes: int,
    progress: Callable[[dict[str, Any]], None] | None = None,
    record: bool = False,
    **episode_kw: Any,
) -> list[dict[str, Any]]:
    """Spin `node` in a background executor and run `episodes` episodes; their outcomes."""
    from rclpy.executors import SingleThreadedExecutor

    executor = SingleThreadedExecutor(context=node.context)
    executor.add_node(node)
    stopping = threading.Event()

    def spin() -> None:
        try:
            executor.spin()
        except Exception:
            if not stopping.is_set():  # rclpy can raise from a wait set torn down by shutdown: not an error
                raise

    spinner = threading.Thread(target=spin, daemon=True)
    spinner.start()
    try:
        node.wait_ready()
        outcomes = []
        for _ in range(episodes):
            outcome = node.run_episode(record=record, **episode_kw)
            outcomes.append(outcome)
            if progress:
                progress(outcome)
        return outcomes
    finally:
        stopping.set()
        executor.shutdown(timeout_sec=1.0)


def main(args: list[str] | None = None) -> int:
    """Run the expert forever (one episode after another) against a running sim profile."""
    rclpy.init(args=args)
    node = ExpertNode()
    try:
        run_episodes(node, 10**9, lambda o: node.get_logger().info(json.dumps(o)))
    except KeyboardInterrupt:
        pass
    finally:
        node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
