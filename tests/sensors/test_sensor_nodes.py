"""camera_node and tactile_node as real processes, probed over real DDS."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from hardware.tactile.embedding import PCAEmbedding
from hardware.tactile.geometry import SENSOR_MODELS
from hardware.tactile.layout import stamp_from_labels
from hardware.tactile.synthetic import SyntheticTactile, shear
from policy_runtime.obs_sync import ObsSync
from tests.helpers.procs import node_proc
from tests.sensors.test_realsense import H, W, record
from tests.sensors.test_tactile import random_fields, rms, write_video

pytestmark = pytest.mark.ros


class Probe:
    """Subscriptions of the test node, spun by hand."""

    def __init__(self, node) -> None:
        from rclpy.executors import SingleThreadedExecutor

        self.node = node
        self.executor = SingleThreadedExecutor(context=node.context)
        self.executor.add_node(node)
        self.msgs: dict[str, list] = {}

    def sub(self, topic, name: str, cb: Callable | None = None) -> None:
        from rstack.ros_types import topic_class, topic_qos

        resolved = topic.resolve(name=name)
        self.msgs[resolved] = []

        def _cb(msg) -> None:
            self.msgs[resolved].append(msg)
            if cb:
                cb(msg)

        self.node.create_subscription(topic_class(topic), resolved, _cb, topic_qos(topic))

    def spin_until(self, cond: Callable[[], bool], timeout: float, what: str, proc=None) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.05)
            if cond():
                return
        seen = [(ord(st.level), st.name, st.message) for a in self.msgs.get("/diagnostics", [])[-3:] for st in a.status]
        out = proc.output[-3000:] if proc is not None else ""
        raise AssertionError(f"timed out after {timeout}s waiting for {what}; last diagnostics {seen}\n{out}")

    def diag(self, suffix: str, level: int | None = None) -> Callable[[], list]:
        def find() -> list:
            out = []
            for arr in self.msgs.get("/diagnostics", []):
                for st in arr.status:
                    if st.name.endswith(suffix) and (level is None or ord(st.level) == level):
                        out.append(st)
            return out

        return find


def stamp_s(msg) -> float:
    return msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9


def test_camera_node_plays_a_recording_goes_stale_and_reconnects(tmp_path: Path, ros_node) -> None:
    from rstack import graph

    rec = tmp_path / "cam.db3"
    record(rec, "5001", list(range(1, 31)), t0_ms=2_000_000.0)
    sync = ObsSync(["camera"], max_age_s=0.2)
    probe = Probe(ros_node)
    probe.sub(graph.CAMERA_IMAGE, "ext", lambda m: sync.push("camera", stamp_s(m), m))
    probe.sub(graph.CAMERA_INFO, "ext")
    probe.sub(graph.CAMERA_DEPTH, "ext")
    probe.sub(graph.DIAGNOSTICS, "")
    params = {"device_name": "ext", "source": str(rec), "depth": True, "stale_after_ms": 250.0}
    with node_proc("camera_node", params, name="camera_ext", tmp=tmp_path) as proc:
        images = probe.msgs["/camera/ext/image_raw"]
        probe.spin_until(lambda: len(images) >= 15, 30, "15 images")
        img, info = images[-1], probe.msgs["/camera/ext/camera_info"][-1]
        assert (img.encoding, img.width, img.height, img.step) == ("rgb8", W, H, 3 * W)
        assert img.header.frame_id == "ext_color_optical_frame"
        assert info.k[0] == pytest.approx(0.9 * W, rel=1e-5) and info.k[2] == pytest.approx(W / 2 - 0.5)
        assert info.distortion_model == "plumb_bob" and len(info.d) == 5
        # capture-stamped: recorded spacing, not the receive jitter; aligned depth belongs to its color frame
        stamps = np.array([stamp_s(m) for m in images[:15]])
        assert np.all(np.diff(stamps) > 0) and np.median(np.diff(stamps)) == pytest.approx(0.0333, abs=4e-3)
        depth_by_stamp = {stamp_s(m): m for m in probe.msgs["/camera/ext/depth/image_raw"]}
        paired = [(m, depth_by_stamp[stamp_s(m)]) for m in images if stamp_s(m) in depth_by_stamp]
        assert len(paired) >= 10
        for color, depth in paired:
            assert depth.encoding == "16UC1"
            assert np.frombuffer(bytes(depth.data), np.uint16)[0] == 900 + bytes(color.data)[0]
        # unplug: the recording ends and is gone
        rec.rename(tmp_path / "away.db3")
        gone = lambda: [st for st in probe.diag("/camera", 3)() if "does not exist" in st.message]  # noqa: E731
        probe.spin_until(gone, 30, "camera STALE, reconnecting, on /diagnostics", proc)
        assert any(kv.key == "stale" and kv.value == "True" for kv in gone()[-1].values)
        r = sync.query(time.time())
        assert not r.ok and r.stale == ("camera",)
        # plug back in
        (tmp_path / "away.db3").rename(rec)
        n = len(images)
        probe.spin_until(lambda: len(images) >= n + 5, 30, "images after reconnect")
        assert sync.query(stamp_s(images[-1])).ok
        probe.spin_until(
            lambda: any(
                kv.key == "reconnects" and kv.value == "1" for st in probe.diag("/camera", 0)() for kv in st.values
            ),
            30,
            "reconnects=1 in diagnostics",
        )
        assert proc.p.poll() is None
    assert proc.p.returncode == 0
    proc.assert_no_errors()


def test_camera_node_names_the_connected_serials(tmp_path: Path) -> None:
    with node_proc("camera_node", {"serial": "0000"}, name="camera_x", tmp=tmp_path) as proc:
        proc.wait_for(r"\[ERROR\].*RealSense serial '0000' is not connected \(USB\); connected: ", timeout=60)
        time.sleep(1.5)
        assert proc.p.poll() is None  # keeps trying, never dies
    proc.assert_no_errors(allowed=[r"RealSense serial '0000' is not connected"])


def test_tactile_node_tracks_a_video_and_recaptures_its_reference(tmp_path: Path, ros_node) -> None:
    from std_srvs.srv import Trigger

    from rstack import graph

    syn = SyntheticTactile(SENSOR_MODELS["gelsight_mini"])
    truth = [syn.frame(shear(0.0, 0.0)) for _ in range(3)]
    truth += [syn.frame(shear(0.15 * k, -0.1 * k)) for k in range(1, 25)]
    video = write_video(tmp_path / "gel.avi", [t[0] for t in truth])
    pca = PCAEmbedding.fit(random_fields(120), 15, "gelsight_mini")
    pca_file = pca.save(tmp_path / "pca.npz")
    probe = Probe(ros_node)
    probe.sub(graph.TACTILE_MARKER_FLOW, "left")
    probe.sub(graph.TACTILE_EMBEDDING, "left")
    probe.sub(graph.TACTILE_IMAGE, "left")
    probe.sub(graph.DIAGNOSTICS, "")
    params = {
        "device_name": "left",
        "source": str(video),
        "pca_file": str(pca_file),
        "reference_dir": str(tmp_path / "ref"),
        "stale_after_ms": 250.0,
    }
    with node_proc("tactile_node", params, name="tactile_left", tmp=tmp_path) as proc:
        flows = probe.msgs["/tactile/left/marker_flow"]
        embs = probe.msgs["/tactile/left/embedding"]
        probe.spin_until(lambda: len(flows) >= 20 and len(embs) >= 20, 30, "20 flows and embeddings")
        for m in flows[:20]:
            assert [d.size for d in m.layout.dim] == [7, 9, 2]
            field = np.asarray(m.data, np.float32).reshape(7, 9, 2)
            assert min(rms(field, d) for _, d in truth) < 0.5  # one of the video's known fields
        assert max(np.abs(np.asarray(m.data)).max() for m in flows[:20]) > 1.0
        by_stamp = {stamp_from_labels([d.label for d in m.layout.dim]): m for m in flows}
        e = embs[10]
        f = by_stamp[stamp_from_labels([d.label for d in e.layout.dim])]
        expect = pca.transform(np.asarray(f.data, np.float32).reshape(7, 9, 2))
        assert np.allclose(np.asarray(e.data), expect, atol=1e-4) and len(e.data) == 15
        assert (tmp_path / "ref" / "left.yaml").is_file()
        # re-capture the reference mid-stream: answered once taken
        client = ros_node.create_client(Trigger, graph.TACTILE_CAPTURE_REFERENCE.resolve(name="left"))
        assert client.wait_for_service(timeout_sec=20)
        fut = client.call_async(Trigger.Request())
        probe.spin_until(fut.done, 30, "capture_reference response")
        assert fut.result().success, fut.result().message
        assert "7x9 markers" in fut.result().message
        # the sensor goes away: the node stays up and reports it stale
        video.rename(tmp_path / "away.avi")
        probe.spin_until(lambda: probe.diag("/tactile", 3)(), 30, "tactile STALE on /diagnostics")
        assert proc.p.poll() is None
    assert proc.p.returncode == 0
    proc.assert_no_errors()


def test_tactile_node_wrench_mode_publishes_the_same_embedding(tmp_path: Path, ros_node) -> None:
    from geometry_msgs.msg import WrenchStamped
    from std_srvs.srv import Trigger

    from rstack import graph
    from rstack.ros_types import topic_qos

    probe = Probe(ros_node)
    probe.sub(graph.TACTILE_EMBEDDING, "tool")
    pub = ros_node.create_publisher(WrenchStamped, graph.FRANKA_WRENCH.name, topic_qos(graph.FRANKA_WRENCH))
    params = {"device_name": "tool", "touch": "wrench", "wrench_scale": [10.0, 10.0, 20.0, 1.0, 1.0, 2.0]}
    with node_proc("tactile_node", params, name="tactile_tool", tmp=tmp_path) as proc:
        embs = probe.msgs["/tactile/tool/embedding"]

        def send() -> None:
            w = WrenchStamped()
            w.header.stamp = ros_node.get_clock().now().to_msg()
            w.wrench.force.x, w.wrench.force.z, w.wrench.torque.z = 5.0, -10.0, 1.0
            pub.publish(w)

        probe.spin_until(lambda: (send(), len(embs) >= 3)[1], 30, "wrench embeddings")
        assert np.allclose(embs[-1].data, [0.5, 0, -0.5, 0, 0, 0.5])
        assert stamp_from_labels([d.label for d in embs[-1].layout.dim]) is not None
        client = ros_node.create_client(Trigger, graph.TACTILE_CAPTURE_REFERENCE.resolve(name="tool"))
        assert client.wait_for_service(timeout_sec=20)
        fut = client.call_async(Trigger.Request())
        probe.spin_until(fut.done, 30, "tare response")
        # Embeddings of wrench samples sent before the tare may still be on their way (each poll sends one); the
        # first tared one comes after them, and from then on the same wrench reads zero.
        n = len(embs)
        probe.spin_until(lambda: (send(), len(embs) > n and np.allclose(embs[-1].data, 0.0))[1], 30, "tared embedding")
        first_tared = len(embs) - 1
        probe.spin_until(lambda: (send(), len(embs) >= first_tared + 4)[1], 30, "embeddings after the tare")
        assert all(np.allclose(e.data, 0.0) for e in embs[first_tared:])
    proc.assert_no_errors()
