"""fiper_node as a real process, driven through real ROS by this test process.

The test publishes the policy's features (embedding + sampled chunks per planner step, in the wire
format of `policy_runtime.fiper.messages`) and serves a real /franka/safe_stop. OOD embeddings with
spread samples must raise the latched alarm and call the stop; OOD embeddings with tight samples must
not; /fiper/reset clears the alarm; input the monitor cannot score stops the arm as a fault.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from policy_runtime.fiper.messages import decode_scores, encode_chunks, encode_embedding
from tests.fiper.synthetic import B, chunks, ood_embeddings
from tests.helpers.procs import node_proc

pytestmark = pytest.mark.ros
FAULT_LINE = r"monitor fault"


class Harness:
    """The test's own rclpy node: publishes policy features, serves the arm's safe stop, records outputs."""

    def __init__(self) -> None:
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor
        from std_msgs.msg import Bool, Float32MultiArray

        from rstack import graph
        from rstack.ros_types import message_class, topic_class, topic_qos

        self.ctx = Context()
        rclpy.init(context=self.ctx)
        self.node = rclpy.create_node("fiper_test_driver", context=self.ctx)
        self.executor = SingleThreadedExecutor(context=self.ctx)
        self.executor.add_node(self.node)
        self.lock = threading.Lock()
        self.alarms: list[bool] = []
        self.scores: dict[int, np.ndarray] = {}
        self.stop_calls: list[float] = []
        self.monitor_status: object | None = None
        self.step = 0
        self.Float32MultiArray = Float32MultiArray
        n = self.node
        self.emb_pub = n.create_publisher(
            Float32MultiArray, graph.POLICY_EMBEDDING.name, topic_qos(graph.POLICY_EMBEDDING)
        )
        self.chunk_pub = n.create_publisher(
            Float32MultiArray, graph.POLICY_SAMPLED_CHUNKS.name, topic_qos(graph.POLICY_SAMPLED_CHUNKS)
        )
        n.create_subscription(Bool, graph.FIPER_ALARM.name, self._on_alarm, topic_qos(graph.FIPER_ALARM))
        n.create_subscription(
            topic_class(graph.FIPER_SCORES), graph.FIPER_SCORES.name, self._on_scores, topic_qos(graph.FIPER_SCORES)
        )
        n.create_subscription(DiagnosticArray, graph.DIAGNOSTICS.name, self._on_diag, topic_qos(graph.DIAGNOSTICS))
        trigger = message_class(graph.FRANKA_SAFE_STOP.srv_type)
        n.create_service(trigger, graph.FRANKA_SAFE_STOP.name, self._on_stop)
        self.reset_client = n.create_client(message_class(graph.FIPER_RESET.srv_type), graph.FIPER_RESET.name)
        self.trigger = trigger
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    # callbacks (executor thread)
    def _on_alarm(self, msg) -> None:
        with self.lock:
            self.alarms.append(bool(msg.data))

    def _on_scores(self, msg) -> None:
        step, vals = decode_scores(msg.layout.dim, msg.data, msg.layout.data_offset)
        with self.lock:
            self.scores[step] = vals

    def _on_diag(self, msg) -> None:
        for st in msg.status:
            if st.name.endswith("/monitor"):
                with self.lock:
                    self.monitor_status = st

    def _on_stop(self, _req, res):
        with self.lock:
            self.stop_calls.append(time.monotonic())
        res.success = True
        res.message = "test arm stopped"
        return res

    # test-side helpers
    def wait(self, pred, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if pred():
                    return
            time.sleep(0.02)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}")

    def publish_step(self, embedding: np.ndarray, samples: np.ndarray) -> int:
        k = self.step
        self.step += 1
        from std_msgs.msg import MultiArrayDimension

        encoded = ((self.emb_pub, encode_embedding(k, embedding)), (self.chunk_pub, encode_chunks(k, samples)))
        for pub, (dims, data) in encoded:
            msg = self.Float32MultiArray()
            msg.layout.dim = [MultiArrayDimension(label=d.label, size=d.size, stride=d.stride) for d in dims]
            msg.data = data.tolist()
            pub.publish(msg)
        return k

    def run_steps(self, embeddings: np.ndarray, samples: list[np.ndarray]) -> list[int]:
        """Publish steps one at a time, each after the monitor scored the previous one (lock-step)."""
        steps = []
        for e, c in zip(embeddings, samples, strict=True):
            k = self.publish_step(e, c)
            self.wait(lambda k=k: k in self.scores, 15.0, f"/fiper/scores for planner step {k}")
            steps.append(k)
        return steps

    def reset_monitor(self) -> None:
        assert self.reset_client.wait_for_service(timeout_sec=15.0), "/fiper/reset not served"
        n_before = len(self.alarms)
        fut = self.reset_client.call_async(self.trigger.Request())
        self.wait(lambda: fut.done(), 15.0, "/fiper/reset response")
        assert fut.result().success
        self.wait(lambda: len(self.alarms) > n_before and not self.alarms[-1], 10.0, "alarm False after reset")

    def close(self) -> None:
        import rclpy

        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.ctx)
        self.thread.join(timeout=5)


@pytest.fixture(scope="module")
def fiper(calibrated, tmp_path_factory):
    """The fiper_node process and the test's driver node."""
    tmp = tmp_path_factory.mktemp("fiper_node")
    params = {"monitor_dir": str(calibrated.monitor_dir), "policy_dir": str(calibrated.policy_dir)}
    proc = node_proc("fiper_node", params, name="fiper", tmp=tmp)
    harness = None
    try:
        proc.wait_for("FIPER monitor ready", timeout=90)
        harness = Harness()
        harness.wait(
            lambda: harness.emb_pub.get_subscription_count() > 0 and harness.chunk_pub.get_subscription_count() > 0,
            30.0,
            "fiper_node to subscribe the policy features",
        )
        harness.wait(lambda: harness.alarms == [False], 30.0, "the latched initial alarm=False")
        yield harness, proc
    finally:
        if harness is not None:
            harness.close()
        code = proc.stop()
    assert code == 0, proc.output
    proc.assert_no_errors(allowed=[FAULT_LINE])


def _tight(rng, n):
    return [chunks(rng, i / n, 0.002) for i in range(n)]


def _spread(rng, n):
    return [chunks(rng, i / n, 0.05) for i in range(n)]


def test_ood_embeddings_with_tight_samples_do_not_stop_the_arm(fiper, calibrated):
    h, _ = fiper
    h.reset_monitor()
    rng = np.random.default_rng(10)
    steps = h.run_steps(ood_embeddings(12, rng), _tight(rng, 12))
    art = calibrated.artifacts
    rnd_over = [h.scores[k][0] > h.scores[k][1] for k in steps]
    ace_over = [h.scores[k][2] > h.scores[k][3] for k in steps]
    assert all(rnd_over[1:]) and not any(ace_over)  # out of distribution, yet decisive
    assert h.scores[steps[-1]][1] == pytest.approx(art.rnd.constant, rel=1e-6)
    time.sleep(0.5)  # a late alarm or stop call would show up here
    assert h.alarms[-1] is False and True not in h.alarms
    assert h.stop_calls == []


def test_ood_embeddings_with_spread_samples_alarm_and_stop_the_arm(fiper):
    h, proc = fiper
    h.reset_monitor()
    rng = np.random.default_rng(11)
    n_alarms = len(h.alarms)
    first = None
    for e, c in zip(ood_embeddings(12, rng), _spread(rng, 12), strict=True):
        k = h.run_steps(e[None], [c])[0]
        s = h.scores[k]
        if s[0] > s[1] and s[2] > s[3]:
            first = k
            break
    assert first is not None, "the windowed scores never both exceeded their thresholds"
    h.wait(lambda: True in h.alarms[n_alarms:], 10.0, "/fiper/alarm True")
    h.wait(lambda: len(h.stop_calls) == 1, 10.0, "a /franka/safe_stop call")
    proc.wait_for(rf"FIPER alarm at planner step {first}: rnd\+ace", timeout=10)
    proc.wait_for("arm stopped by /franka/safe_stop", timeout=10)
    h.wait(
        lambda: (
            h.monitor_status is not None
            and any(kv.key == "stop_acknowledged" and kv.value == "True" for kv in h.monitor_status.values)
        ),
        10.0,
        "/diagnostics with the acknowledged stop",
    )
    values = {kv.key: kv.value for kv in h.monitor_status.values}
    assert values["fired"] == "rnd+ace" and values["alarm_planner_step"] == str(first)
    from diagnostic_msgs.msg import DiagnosticStatus

    assert h.monitor_status.level == DiagnosticStatus.ERROR  # the alarm is latched
    # Latched: further nominal-looking steps neither clear the alarm nor call the stop again.
    h.run_steps(ood_embeddings(2, rng), _tight(rng, 2))
    assert h.alarms[-1] is True and len(h.stop_calls) == 1


def test_reset_clears_the_alarm_and_input_it_cannot_score_stops_the_arm(fiper):
    h, proc = fiper
    h.reset_monitor()
    assert h.alarms[-1] is False
    calls = len(h.stop_calls)
    rng = np.random.default_rng(12)
    h.publish_step(ood_embeddings(1, rng)[0], chunks(rng, 0.0, 0.002, b=B // 2))  # another B than calibrated
    h.wait(lambda: h.alarms[-1] is True, 10.0, "a fault alarm")
    h.wait(lambda: len(h.stop_calls) == calls + 1, 10.0, "the fault's safe-stop call")
    proc.wait_for(r"monitor fault .*B=16.*calibrated with B=32", timeout=10)
    h.reset_monitor()


def test_node_refuses_a_monitor_calibrated_for_another_policy(calibrated, tmp_path):
    from tests.fiper.synthetic import write_policy_bundle

    other = write_policy_bundle(tmp_path / "retrained_policy", tag="retrained")
    params = {"monitor_dir": str(calibrated.monitor_dir), "policy_dir": str(other)}
    proc = node_proc("fiper_node", params, name="fiper_mismatch", tmp=tmp_path)
    try:
        proc.wait_for(r"\[FATAL\].*calibrated for policy sha256:.*re-run `rstack fiper calibrate`", timeout=90)
        assert proc.p.wait(timeout=30) == 1
    finally:
        proc.stop()
    assert "FIPER monitor ready" not in proc.output
