"""camera_node: one RealSense camera -> image_raw (+ aligned depth) and camera_info, capture-stamped.

Thin: parameters and message conversion only; the driver, stamping, drop counting and reconnects
are `hardware.realsense`. Publishing runs on the driver's thread, right after the frame is read.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np
from sensor_msgs.msg import CameraInfo, Image

from calibration.camera_intrinsics import CameraIntrinsics
from hardware.realsense import CameraConfig, CameraFrame, CameraSupervisor, RealSenseCamera, provider_for
from rstack import graph
from rstack.node_support import ERROR, OK, STALE, WARN, GraphNode, run_node, s_to_stamp


def camera_info_msg(intr: CameraIntrinsics, frame_id: str) -> CameraInfo:
    msg = CameraInfo()
    msg.header.frame_id = frame_id
    msg.width, msg.height = intr.width, intr.height
    msg.distortion_model = intr.distortion_model
    msg.d = intr.d
    msg.k = intr.k
    msg.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    msg.p = intr.p
    return msg


def image_msg(array: np.ndarray, encoding: str, frame_id: str) -> Image:
    msg = Image()
    msg.header.frame_id = frame_id
    msg.height, msg.width = int(array.shape[0]), int(array.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = int(array.strides[0])
    msg.data = array.tobytes()
    return msg


class CameraNode(GraphNode):
    def __init__(self) -> None:
        super().__init__(graph.CAMERA, "camera")
        p = self.params
        name = p["device_name"]
        self.frame_id = p["frame_id"] or f"{name}_color_optical_frame"
        self.image_pub = self.graph_publisher(graph.CAMERA_IMAGE, name=name)
        self.info_pub = self.graph_publisher(graph.CAMERA_INFO, name=name)
        self.depth_pub = self.graph_publisher(graph.CAMERA_DEPTH, name=name) if p["depth"] else None
        self._info: tuple[int, CameraInfo] | None = None
        self._publish_ms: deque[float] = deque(maxlen=600)
        config = CameraConfig(
            serial=p["serial"],
            width=p["width"],
            height=p["height"],
            fps=p["fps"],
            depth=p["depth"],
            late_after_s=p["late_after_ms"] * 1e-3,
        )
        self.supervisor = CameraSupervisor(
            provider_for(p["source"]),
            config,
            self._on_frame,
            stale_after_s=p["stale_after_ms"] * 1e-3,
            reconnect_after_s=p["reconnect_after_s"],
            log=self.log_at,
        )
        self.add_diagnostic(self._diagnostic)
        self.supervisor.start()

    def _on_frame(self, frame: CameraFrame, cam: RealSenseCamera) -> None:
        try:
            self._publish(frame, cam)
        except Exception:
            if self.context.ok():
                raise  # a real failure; during shutdown the context goes first and that is fine

    def _publish(self, frame: CameraFrame, cam: RealSenseCamera) -> None:
        if not self.context.ok():
            return
        stamp = s_to_stamp(frame.stamp_s)
        if self._info is None or self._info[0] != id(cam):  # intrinsics per connection (may change on replug)
            self._info = (id(cam), camera_info_msg(cam.intrinsics, self.frame_id))
        info = self._info[1]
        img = image_msg(frame.color, "rgb8", self.frame_id)
        img.header.stamp = info.header.stamp = stamp
        self.image_pub.publish(img)
        self.info_pub.publish(info)
        if self.depth_pub is not None and frame.depth_mm is not None:
            depth = image_msg(frame.depth_mm, "16UC1", self.frame_id)
            depth.header.stamp = stamp
            self.depth_pub.publish(depth)
        self._publish_ms.append((self.get_clock().now().nanoseconds * 1e-9 - frame.stamp_s) * 1e3)

    def _diagnostic(self) -> Any:
        st = self.supervisor.status()
        lat = np.asarray(self._publish_ms) if self._publish_ms else None
        values = {k: v for k, v in st.items()}
        if lat is not None:
            values["capture_to_publish_p50_ms"] = f"{np.percentile(lat, 50):.2f}"
            values["capture_to_publish_p99_ms"] = f"{np.percentile(lat, 99):.2f}"
        if not st["connected"] and st["connects"] == 0:
            level, msg = ERROR, f"not connected: {st['last_error'] or 'connecting'}"
        elif st["stale"]:
            why = "" if st["connected"] else f"; reconnecting: {st['last_error']}"
            level, msg = STALE, f"stale: no frame for {st['age_s']:.3f} s{why}"
        elif st["timestamp_domain"] == "system_time":
            level, msg = WARN, "streaming with host-arrival stamps (global time unavailable)"
        else:
            level, msg = OK, f"streaming {st['mode']}"
        return self.status(level, msg, values, name="camera")

    def close(self) -> None:
        self.supervisor.stop()


def main(args: list[str] | None = None) -> int:
    return run_node(CameraNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
