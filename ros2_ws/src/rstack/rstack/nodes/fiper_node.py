"""FIPER failure monitor node: pairs the policy's per-step features, scores them, stops the arm on alarm.

Subscribes /policy/embedding and /policy/sampled_chunks (std_msgs/Float32MultiArray). Float32MultiArray
has no header: both carry the planner step index k in the label of a leading size-1 dimension,
`planner_step=<k>` (see `policy_runtime.fiper.messages`, whose `encode_embedding` / `encode_chunks`
the policy node uses). The two messages of step k are paired (`StepPairer`) and scored together by
the ROS-free `FailureMonitor`.

Publishes /fiper/scores ([rnd, rnd_threshold, ace, ace_threshold] windowed, per step, for live
plotting) and /fiper/alarm (latched Bool: False at start and after /fiper/reset, True once alarmed).
On alarm it calls /franka/safe_stop from the same callback that scored the step (so within one planner
tick), and retries every `stop_retry_s` until the arm driver confirms. The scores, the indicator that
fired and the stop state are also on /diagnostics. /fiper/reset clears the latched alarm and the
windows; it does not release the arm (that is /franka/reset).

Input the monitor cannot score (malformed layout, wrong embedding dim, another B or H than calibrated,
NaN) is a fault: logged as an error, latched as an alarm with indicator "fault" and, with
`stop_on_fault` (default), the arm is stopped: an unmonitored policy must not keep running.
"""

from __future__ import annotations

import threading
from typing import Any

from std_msgs.msg import Bool, Float32MultiArray
from std_srvs.srv import Trigger

from policy_runtime.fiper.messages import MessageFormatError, decode_chunks, decode_embedding, encode_scores
from policy_runtime.fiper.monitor import FailureMonitor, MonitorFault, MonitorStep
from policy_runtime.fiper.pairing import StepPair, StepPairer
from rstack import graph
from rstack.msg_convert import float_array_msg
from rstack.node_support import ERROR, OK, WARN, GraphNode, run_node


class FiperNode(GraphNode):
    """Thin ROS wrapper around `FailureMonitor`."""

    def __init__(self) -> None:
        super().__init__(graph.FIPER, "fiper")
        p = self.params
        if not p["monitor_dir"]:
            raise ValueError("parameter monitor_dir is empty: point it at the output of `rstack fiper calibrate`")
        self.monitor = FailureMonitor.load(
            p["monitor_dir"], p["policy_dir"] or None, rule=p["rule"], time_varying=p["time_varying"]
        )
        art = self.monitor.artifacts
        if p["window"] not in (0, art.window):
            raise ValueError(
                f"parameter window={p['window']} differs from the calibrated window {art.window}: the "
                "thresholds hold only for the window they were calibrated with (set 0, or recalibrate)"
            )
        self.pairer = StepPairer()
        self.last: MonitorStep | None = None
        self.faults = 0
        self.last_fault = ""
        self._stop_lock = threading.Lock()  # the stop call's done-callback runs outside the node's group
        self._stop_future: Any = None
        self._stop_acked = False
        self._stop_calls = 0
        self._stop_unavailable_logged = False
        self._alarm_out = False
        self._alarm_planner_step: int | None = None

        self.alarm_pub = self.graph_publisher(graph.FIPER_ALARM)
        self.scores_pub = self.graph_publisher(graph.FIPER_SCORES)
        stale = float(p["stale_after_s"])
        self.graph_subscription(graph.POLICY_EMBEDDING, self._on_embedding, stale_after_s=stale)
        self.graph_subscription(graph.POLICY_SAMPLED_CHUNKS, self._on_chunks, stale_after_s=stale)
        self.graph_service(graph.FIPER_RESET, self._on_reset)
        self.stop_client = self.graph_client(graph.FRANKA_SAFE_STOP)
        self.create_timer(float(p["stop_retry_s"]), self._retry_stop)
        self.add_diagnostic(self._diagnostic)
        self.alarm_pub.publish(Bool(data=False))
        if not p["policy_dir"]:
            self.get_logger().warn(
                "policy_dir is not set: not checking that this monitor was calibrated for the running policy "
                "(only its embedding dim, B and H are checked per message)"
            )
        self.get_logger().info(
            f"FIPER monitor ready: {p['monitor_dir']} (D={art.embedding_dim}, B={art.ace_num_samples}, "
            f"H={art.ace_horizon}, M={art.num_rollouts}, delta={art.delta}, window={art.window}, "
            f"rule={self.monitor.rule.value}, thresholds rnd={art.rnd.describe()} ace={art.ace.describe()}, "
            f"RND on {self.monitor.scorer.providers[0]})"
        )

    # ------------------------------------------------------------------ inputs
    def _on_embedding(self, msg: Float32MultiArray) -> None:
        try:
            step, emb = decode_embedding(msg.layout.dim, msg.data, msg.layout.data_offset)
        except MessageFormatError as exc:
            self._fault(str(exc))
            return
        self._score(self.pairer.add_embedding(step, emb))

    def _on_chunks(self, msg: Float32MultiArray) -> None:
        try:
            step, chunks = decode_chunks(msg.layout.dim, msg.data, msg.layout.data_offset)
        except MessageFormatError as exc:
            self._fault(str(exc))
            return
        self._score(self.pairer.add_chunks(step, chunks))

    def _score(self, pair: StepPair | None) -> None:
        if pair is None:
            return
        if pair.restarted:
            self.get_logger().warn(f"policy planner step went back to {pair.step}: new rollout, windows reset")
            self.monitor.reset_windows()
        try:
            out = self.monitor.step(pair.embedding, pair.chunks)
        except MonitorFault as exc:
            self._fault(f"planner step {pair.step}: {exc}")
            return
        self.last = out
        if out.new_alarm:  # the stop call goes out first, from this very callback
            self._alarm_planner_step = pair.step
            self._raise_alarm()
        scores = encode_scores(pair.step, out.rnd_window, out.rnd_threshold, out.ace_window, out.ace_threshold)
        self.scores_pub.publish(float_array_msg(*scores))
        if out.new_alarm:
            self.get_logger().warn(
                f"FIPER alarm at planner step {pair.step}: {out.fired} (rnd {out.rnd_window:.4g} > "
                f"{out.rnd_threshold:.4g}: {out.rnd_exceeds}, ace {out.ace_window:.4g} > "
                f"{out.ace_threshold:.4g}: {out.ace_exceeds}); called {graph.FRANKA_SAFE_STOP.name}"
            )

    def _fault(self, reason: str) -> None:
        self.faults += 1
        self.last_fault = reason
        self.monitor.latch_fault(reason)  # no-op when the monitor latched it already
        first = not self._alarm_out
        if first or self.faults % 50 == 1:
            action = "stopping the arm" if self.params["stop_on_fault"] else "stop_on_fault is off: NOT stopping"
            self.get_logger().error(f"monitor fault ({reason}); {action}")
        if first:
            self._raise_alarm(stop=bool(self.params["stop_on_fault"]))

    # ------------------------------------------------------------------ alarm and stop
    def _raise_alarm(self, stop: bool = True) -> None:
        self._alarm_out = True
        if stop:
            self._call_stop()
        self.alarm_pub.publish(Bool(data=True))
        self._publish_diagnostics()

    def _call_stop(self) -> None:
        with self._stop_lock:
            if self._stop_acked or self._stop_future is not None:
                return
            if not self.stop_client.service_is_ready():
                if not self._stop_unavailable_logged:
                    self.get_logger().error(
                        f"{graph.FRANKA_SAFE_STOP.name} is not available: the arm is NOT stopped yet; retrying "
                        f"every {self.params['stop_retry_s']} s"
                    )
                    self._stop_unavailable_logged = True
                return
            self._stop_calls += 1
            self._stop_future = self.stop_client.call_async(Trigger.Request())
        self._stop_future.add_done_callback(self._on_stop_done)

    def _on_stop_done(self, future: Any) -> None:
        try:
            res = future.result()
        except Exception as exc:  # a failed call is retried by the timer
            res, err = None, exc
        else:
            err = None
        with self._stop_lock:
            self._stop_future = None
            self._stop_acked = bool(res is not None and res.success)
        if err is not None:
            self.get_logger().error(f"{graph.FRANKA_SAFE_STOP.name} call failed: {err}; retrying")
            return
        if res is not None and res.success:
            self.get_logger().warn(f"arm stopped by {graph.FRANKA_SAFE_STOP.name}: {res.message}")
        else:
            why = res.message if res is not None else "no response"
            self.get_logger().error(f"{graph.FRANKA_SAFE_STOP.name} refused: {why}; retrying")

    def _wants_stop(self) -> bool:
        alarm = self.monitor.alarm
        if alarm is None:
            return False
        return alarm.fired != "fault" or bool(self.params["stop_on_fault"])

    def _retry_stop(self) -> None:
        if self._wants_stop() and not self._stop_acked:
            self._call_stop()

    def _on_reset(self, _req: Trigger.Request, res: Trigger.Response) -> Trigger.Response:
        was = self.monitor.alarm
        self.monitor.reset()
        self.pairer.reset()
        with self._stop_lock:
            self._stop_acked = False
            self._stop_unavailable_logged = False
        self._alarm_out = False
        self._alarm_planner_step = None
        self.last = None
        self.alarm_pub.publish(Bool(data=False))
        res.success = True
        res.message = f"alarm cleared (was: {was.reason})" if was else "no alarm was latched; windows cleared"
        self.get_logger().info(f"{graph.FIPER_RESET.name}: {res.message}")
        return res

    # ------------------------------------------------------------------ diagnostics
    def _diagnostic(self):
        alarm, last = self.monitor.alarm, self.last
        values: dict[str, Any] = {
            "alarm": alarm is not None,
            "fired": alarm.fired if alarm else "none",
            "alarm_step": alarm.step if alarm else "",  # steps since the last reset
            "alarm_planner_step": self._alarm_planner_step if self._alarm_planner_step is not None else "",
            "reason": alarm.reason if alarm else "",
            "stop_calls": self._stop_calls,
            "stop_acknowledged": self._stop_acked,
            "steps_scored": self.monitor.steps,
            "unpaired_dropped": self.pairer.dropped,
            "policy_restarts": self.pairer.restarts,
            "faults": self.faults,
            "last_fault": self.last_fault,
            "rule": self.monitor.rule.value,
        }
        if last is not None:
            values.update(
                rnd=f"{last.rnd_window:.6g}",
                rnd_threshold=f"{last.rnd_threshold:.6g}",
                ace=f"{last.ace_window:.6g}",
                ace_threshold=f"{last.ace_threshold:.6g}",
                exceeding=last.fired,
            )
        if alarm is not None:
            level, msg = ERROR, f"ALARM ({alarm.fired}): {alarm.reason}"
        elif last is not None and last.fired != "none":
            level, msg = WARN, f"{last.fired} above threshold (no alarm under rule {self.monitor.rule.value})"
        else:
            level, msg = OK, "monitoring"
        return self.status(level, msg, values, name="monitor")


def main(args: list[str] | None = None) -> int:
    return run_node(FiperNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
