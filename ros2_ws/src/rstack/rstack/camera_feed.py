"""Camera frames by ROS subscription, for a process other than the node's own (the policy's planner process).

`subscribe_cameras` is an image feed in the sense of `policy_runtime.runtime.camera_window`: called in
the planner process, it makes a ROS node there (``<node>_cameras``) that subscribes to each camera topic
with the graph's QoS and pushes every frame with its capture stamp. The policy node's own process then
never takes an image off the wire, so the executor that delivers touch to the fast head is not busy
deserializing 230 kB frames.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np

from rstack import graph
from rstack.msg_convert import image_to_rgb
from rstack.node_support import stamp_to_s
from rstack.ros_types import topic_class, topic_qos


def subscribe_cameras(
    cameras: dict[str, str], node_name: str, push: Callable[[str, float, np.ndarray], None]
) -> Callable[[], None]:
    """Subscribe to {camera: image topic}; frames go to `push(camera, stamp_s, rgb)`. Returns `stop()`."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    node = rclpy.create_node(node_name, context=ctx)
    errors = {"count": 0}

    def on_image(camera: str, msg) -> None:
        try:
            push(camera, stamp_to_s(msg.header.stamp), image_to_rgb(msg))
        except ValueError as exc:  # a wrong encoding: the camera then goes stale, and the planner says so
            errors["count"] += 1
            if errors["count"] == 1:
                node.get_logger().warning(f"camera {camera}: frame dropped: {exc}")

    cls = topic_class(graph.CAMERA_IMAGE)
    for cam, topic in cameras.items():
        node.create_subscription(cls, topic, lambda m, c=cam: on_image(c, m), topic_qos(graph.CAMERA_IMAGE))
    executor = SingleThreadedExecutor(context=ctx)
    executor.add_node(node)
    thread = threading.Thread(target=executor.spin, name="camera-feed", daemon=True)
    thread.start()

    def stop() -> None:
        executor.shutdown(timeout_sec=1.0)
        node.destroy_node()
        if ctx.ok():
            rclpy.shutdown(context=ctx)
        thread.join(timeout=1.0)

    return stop
