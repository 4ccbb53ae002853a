"""Recorder node: raw subscriptions to the profile's topics -> one crash-safe MCAP per episode.

Thin wrapper over `policy_runtime.datasets.recorder.Recorder`. The topics are the recorder node
kind's subscriptions in `rstack.graph`, per-device templates expanded with the devices of the
profile named by the `profile` parameter. Subscriptions are raw (CDR bytes, never deserialized), taken in bulk by a
thread of their own (no executor), with the graph's reliability/durability and a deeper queue (`queue_depth`) so
bursts are not lost.

Services (std_srvs/Trigger): /recorder/start, /recorder/stop_success, /recorder/stop_failure,
/recorder/discard; the response message says what happened or why it was refused.
/recorder/status: latched JSON (state, episode, counts, drops, free disk), on change and at 1 Hz.
/diagnostics: per topic, messages received/recorded, drops and rate.
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import Any

import rclpy
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.qos import QoSProfile
from std_msgs.msg import String

from hardware.timing import StreamStats
from policy_runtime.datasets.recorder import GB, Recorder, RecorderConfig, RecorderError, TopicSpec
from rstack import graph
from rstack.message_waiter import MessageWaiter
from rstack.node_support import OK, WARN, GraphNode, run_node
from rstack.ros_types import message_class, topic_class, topic_qos


def recorded_topics(profile_name: str) -> list[tuple[str, graph.Topic]]:
    """(concrete name, graph topic) for every topic the recorder records in a profile."""
    prof = graph.profile(profile_name)
    return [(name, t) for t in graph.RECORDER.subscribes for name in graph.expand(t, prof)]


class RecorderNode(GraphNode):
    def __init__(self) -> None:
        super().__init__(graph.RECORDER, "recorder")
        p = self.params
        self.topics = recorded_topics(p["profile"])
        self._sim_episode: dict[str, Any] = {}
        config = RecorderConfig(
            output_dir=Path(p["output_dir"]).expanduser().resolve(),
            topics=[TopicSpec(name, t.msg_type, latched=t.qos == "latched") for name, t in self.topics],
            task=p["task"],
            operator=p["operator"],
            min_free_bytes=int(p["min_free_gb"] * GB),
            stop_free_bytes=int(p["stop_free_gb"] * GB),
            disk_check_period_s=p["disk_check_period_s"],
            chunk_size=int(p["chunk_kb"]) * 1024,
            compression=p["compression"],
            max_queue_bytes=int(p["max_queue_mb"]) * 1024 * 1024,
        )
        self._status_pub = self.graph_publisher(graph.RECORDER_STATUS)
        self.recorder = Recorder(config, log=self.log_at, on_change=self._publish_status)
        self._stats = {name: StreamStats(name, stale_after_s=2.0) for name, _ in self.topics}

        # The messages are taken by a thread of their own, in bulk, through a wait set (rstack.message_waiter), on a
        # node with no executor: rclpy's MultiThreadedExecutor took a whole core at 630 msg/s and lost 13-26 % of the
        # messages (bench/bench_recorder.py). One thread: each topic's messages stay in order.
        self.rx_node = rclpy.create_node(
            f"{self.get_name()}_rx", namespace=self.get_namespace(), context=self.context,
            start_parameter_services=False,
        )  # fmt: skip
        subs = []
        for name, topic in self.topics:
            qos: QoSProfile = topic_qos(topic)
            qos.depth = max(qos.depth, int(p["queue_depth"]))
            subs.append(self.rx_node.create_subscription(topic_class(topic), name, self._callback(name), qos, raw=True))
        self._waiter = MessageWaiter(self.rx_node, subs)
        self._rx_stop = threading.Event()
        self._rx = threading.Thread(target=self._receive, name="recorder-rx", daemon=True)
        self._rx.start()
        srv_group = MutuallyExclusiveCallbackGroup()
        for service, handler in (
            (graph.RECORDER_START, self._start),
            (graph.RECORDER_STOP_SUCCESS, lambda: self.recorder.stop("success", self._sim_meta())),
            (graph.RECORDER_STOP_FAILURE, lambda: self.recorder.stop("failure", self._sim_meta())),
            (graph.RECORDER_DISCARD, self.recorder.discard),
        ):
            self.create_service(
                message_class(service.srv_type),
                service.name,
                self._trigger(service.name, handler),
                callback_group=srv_group,
            )
        self.add_diagnostic(self._diagnostic)
        self.create_timer(1.0, lambda: self._publish_status(self.recorder.status()), callback_group=srv_group)
        self._publish_status(self.recorder.status())
        self.get_logger().info(
            f"recording {len(self.topics)} topics of profile {p['profile']!r} into {config.output_dir}"
        )

    # ------------------------------------------------------------------ callbacks
    def _receive(self) -> None:
        """Take messages until `close()` or shutdown. A failure on one message is logged and recording goes on."""
        while not self._rx_stop.is_set() and self.context.ok():
            try:
                self._waiter.drain(0.2)
            except Exception as exc:
                if self._rx_stop.is_set() or not self.context.ok():
                    return  # the context shut down under the wait (SIGINT): a clean stop
                self.get_logger().error(f"taking a message failed: {type(exc).__name__}: {exc}")
                self._rx_stop.wait(0.1)  # no busy loop if it keeps failing

    def _callback(self, name: str):
        offer, stats = self.recorder.offer, self._stats[name]
        on_sim_episode = name == graph.SIM_EPISODE.name

        def cb(data: bytes, info: dict[str, Any]) -> None:
            stats.tick()
            offer(name, data, info["received_timestamp"], info["source_timestamp"], info["publication_sequence_number"])
            if on_sim_episode:
                self._remember_sim_episode(data)

        return cb

    def _remember_sim_episode(self, data: bytes) -> None:
        from rclpy.serialization import deserialize_message

        try:
            self._sim_episode = json.loads(deserialize_message(data, String).data)
        except (ValueError, TypeError, RuntimeError) as exc:  # RuntimeError: bytes that are no String at all
            self.get_logger().warn(f"{graph.SIM_EPISODE.name} is not a JSON string ({exc}); seed/scenario not recorded")

    def _sim_meta(self) -> dict[str, Any]:
        """Seed and scenario of the sim episode (from /sim/episode), if any."""
        return {k: self._sim_episode[k] for k in ("seed", "scenario") if k in self._sim_episode}

    def _start(self) -> dict[str, Any]:
        return {"id": self.recorder.start(self._sim_meta())}

    def _trigger(self, service_name: str, handler):
        def cb(request: Any, response: Any) -> Any:
            try:
                result = handler()
            except RecorderError as exc:
                response.success, response.message = False, str(exc)
                self.get_logger().warn(f"{service_name} refused: {exc}")
            else:
                response.success, response.message = True, json.dumps(result, sort_keys=True)
            return response

        return cb

    def _publish_status(self, status: dict[str, Any]) -> None:
        if self.context.ok():
            self._status_pub.publish(String(data=json.dumps(status, sort_keys=True)))

    def _diagnostic(self):
        st = self.recorder.status()
        values: dict[str, Any] = {"state": st["state"], "episode": st["episode"] or "", "free_gb": st.get("free_gb")}
        for name, _ in self.topics:
            values[f"{name} received"] = st["received"][name]
            values[f"{name} recorded"] = st["counts"][name]
            values[f"{name} drops"] = st["drops"][name]
            values[f"{name} rate_hz"] = f"{self._stats[name].rate_hz():.1f}"
        drops = sum(st["drops"].values())
        level = WARN if drops else OK
        return self.status(level, f"{st['state']}, {drops} drops this episode", values, name="episodes")

    def close(self) -> None:
        """Stop taking messages (those already taken are written), then finalize the episode and the writer."""
        self._rx_stop.set()
        self._waiter.wake()
        self._rx.join(timeout=5.0)
        self.recorder.close()
        self.rx_node.destroy_node()


def main(args: list[str] | None = None) -> int:
    return run_node(RecorderNode, args, threads=2)


if __name__ == "__main__":
    sys.exit(main())
