"""tactile_node: an optical tactile sensor (or the 6-D wrench) -> image_raw, marker_flow, embedding.

Thin: parameters, messages, the capture_reference service. Capture, marker tracking, PCA and the
wrench features are `hardware.tactile`; the stored reference is `calibration.tactile_reference`.
With touch="wrench" the node turns /franka/wrench into the same embedding topic.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

import numpy as np

from calibration.tactile_reference import TactileReference, load_reference, save_reference
from hardware.tactile.capture import TactileCapture, VideoSource
from hardware.tactile.embedding import PCAEmbedding
from hardware.tactile.geometry import grid_spec
from hardware.tactile.tracker import MarkerTracker, ReferenceError
from hardware.tactile.wire import encode_tactile_array
from hardware.tactile.wrench import WrenchFeatures
from rstack import graph
from rstack.node_support import ERROR, OK, STALE, WARN, GraphNode, run_node, s_to_stamp, stamp_to_s
from rstack.nodes.camera_node import image_msg


class TactileNode(GraphNode):
    def __init__(self) -> None:
        super().__init__(graph.TACTILE, "tactile")
        p = self.params
        self.name = p["device_name"]
        self.frame_id = p["frame_id"] or f"{self.name}_tactile"
        self.embedding_pub = self.graph_publisher(graph.TACTILE_EMBEDDING, name=self.name)
        self.lock = threading.Lock()
        self.proc_ms: deque[float] = deque(maxlen=300)
        self.last_error = ""
        self.published = 0
        if p["touch"] == "wrench":
            self.wrench = WrenchFeatures(p["wrench_scale"])
            self.graph_subscription(graph.FRANKA_WRENCH, self._on_wrench)
            self.graph_service(graph.TACTILE_CAPTURE_REFERENCE, self._srv_tare, name=self.name)
            self.add_diagnostic(self._wrench_diagnostic)
            self._tare_next = False
            return
        if p["touch"] != "markers":
            raise ValueError(f"touch must be 'markers' or 'wrench', got {p['touch']!r}")
        self.spec = grid_spec(p["model"])
        self.pca = PCAEmbedding.load(p["pca_file"]) if p["pca_file"] else None
        if self.pca is not None and (self.pca.rows, self.pca.cols) != (self.spec.rows, self.spec.cols):
            raise ValueError(
                f"pca_file {p['pca_file']!r} is for a {self.pca.rows}x{self.pca.cols} grid, "
                f"model {self.spec.name!r} has {self.spec.rows}x{self.spec.cols}"
            )
        self.image_pub = self.graph_publisher(graph.TACTILE_IMAGE, name=self.name)
        self.flow_pub = self.graph_publisher(graph.TACTILE_MARKER_FLOW, name=self.name)
        self.tracker: MarkerTracker | None = None
        self.missing = 0
        self._ref_request: threading.Event | None = None
        self._ref_result = ""
        self.graph_service(graph.TACTILE_CAPTURE_REFERENCE, self._srv_capture, name=self.name)
        if not self.pca:
            self.get_logger().info("no pca_file: publishing marker flow only (fit one on recorded flows)")
        source = VideoSource(p["source"], p["width"], p["height"], p["fps"])
        self.capture = TactileCapture(
            source,
            self._on_frame,
            fps=p["fps"],
            stale_after_s=p["stale_after_ms"] * 1e-3,
            latency_s=p["latency_ms"] * 1e-3,
            log=self.log_at,
        )
        self.add_diagnostic(self._diagnostic)
        self.capture.start()

    # ------------------------------------------------------------------ optical markers
    def _tracker_for(self, image: np.ndarray) -> MarkerTracker:
        if self.tracker is None or self.tracker.width != image.shape[1]:
            self.tracker = MarkerTracker(self.spec, image.shape[1], contrast=self.params["contrast"])
            ref_dir = self.params["reference_dir"]
            if ref_dir:
                try:
                    ref = load_reference(ref_dir, self.name)
                    if ref.image.shape == image.shape:
                        self.tracker.set_reference_positions(ref.positions)
                        self.get_logger().info(f"reference loaded from {ref_dir}")
                except FileNotFoundError:
                    pass
        return self.tracker

    def _capture_reference(self, tracker: MarkerTracker, image: np.ndarray) -> str:
        try:
            grid = tracker.capture_reference(image)
        except ReferenceError as exc:
            self.last_error = str(exc)
            return ""
        if self.params["reference_dir"]:
            save_reference(
                self.params["reference_dir"], TactileReference(self.name, self.spec.name, image, grid, time.time())
            )
        self.last_error = ""
        return f"reference captured: {grid.shape[0]}x{grid.shape[1]} markers"

    def _on_frame(self, image: np.ndarray, stamp_s: float) -> None:
        try:
            self._process(image, stamp_s)
        except Exception:
            if self.context.ok():
                raise  # a real failure; during shutdown the context goes first and that is fine

    def _process(self, image: np.ndarray, stamp_s: float) -> None:
        if not self.context.ok():
            return
        t0 = time.perf_counter()
        stamp = s_to_stamp(stamp_s)
        img = image_msg(image, "bgr8", self.frame_id)
        img.header.stamp = stamp
        self.image_pub.publish(img)
        tracker = self._tracker_for(image)
        request = self._ref_request
        if request is not None or not tracker.has_reference:
            msg = self._capture_reference(tracker, image)
            if request is not None:
                self._ref_result = msg or f"failed: {self.last_error}"
                self._ref_request = None
                request.set()
            if not msg:
                return
            self.get_logger().info(msg)
        try:
            flow = tracker.track(image)
        except ValueError as exc:
            self.last_error = str(exc)
            return
        self.missing = flow.missing
        if self.pca is not None:  # first: the policy's fast head waits for it
            features = self.pca.transform(flow.displacement)
            self.embedding_pub.publish(encode_tactile_array(features, ["features"], stamp_s))
        self.flow_pub.publish(encode_tactile_array(flow.displacement, ["rows", "cols", "xy"], stamp_s))
        self.published += 1
        self.proc_ms.append((time.perf_counter() - t0) * 1e3)

    def _srv_capture(self, _req: Any, resp: Any) -> Any:
        """Make the next frame the no-contact reference; answers once it is taken (or failed)."""
        done = threading.Event()
        self._ref_request = done
        if not done.wait(timeout=max(2.0, 5.0 / max(self.params["fps"], 1e-3))):
            self._ref_request = None
            resp.success, resp.message = False, "no frame from the sensor to capture"
            return resp
        resp.success = self._ref_result.startswith("reference captured")
        resp.message = self._ref_result
        return resp

    def _diagnostic(self) -> Any:
        st = self.capture.status()
        values = {**st, "published": self.published, "markers_missing": self.missing, "last_error": self.last_error}
        values["reference"] = bool(self.tracker and self.tracker.has_reference)
        values["embedding"] = "pca" if self.pca else "none"
        if self.proc_ms:
            values["process_p50_ms"] = f"{np.percentile(np.asarray(self.proc_ms), 50):.2f}"
        if not st["connected"] and st["frames"] == 0:
            level, msg = ERROR, f"not connected: {st['last_error'] or 'opening'}"
        elif st["stale"]:
            level, msg = STALE, f"stale: no frame for {st['age_s']:.3f} s ({st['last_error'] or 'waiting'})"
        elif not values["reference"]:
            level, msg = WARN, f"no reference frame: {self.last_error}"
        else:
            level, msg = OK, "tracking"
        return self.status(level, msg, values, name="tactile")

    # ------------------------------------------------------------------ 6-D wrench
    def _on_wrench(self, msg: Any) -> None:
        f, t = msg.wrench.force, msg.wrench.torque
        w = [f.x, f.y, f.z, t.x, t.y, t.z]
        try:
            if self._tare_next:
                self.wrench.tare(w)
                self._tare_next = False
            feats = self.wrench.transform(w)
        except ValueError as exc:
            self.last_error = str(exc)
            return
        self.embedding_pub.publish(encode_tactile_array(feats, ["features"], stamp_to_s(msg.header.stamp)))
        self.published += 1

    def _srv_tare(self, _req: Any, resp: Any) -> Any:
        self._tare_next = True
        resp.success, resp.message = True, "next wrench sample becomes the zero"
        return resp

    def _wrench_diagnostic(self) -> Any:
        stats = self.stream(graph.FRANKA_WRENCH.name)
        level = STALE if stats.stale() else OK
        values = {"published": self.published, "last_error": self.last_error, **stats.report()}
        return self.status(level, "stale wrench" if stats.stale() else "ok", values, name="tactile")

    def close(self) -> None:
        capture = getattr(self, "capture", None)
        if capture is not None:
            capture.stop()


def main(args: list[str] | None = None) -> int:
    return run_node(TactileNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
