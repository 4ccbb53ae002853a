"""Real rclpy across two OS processes, on this session's own ROS_DOMAIN_ID."""

from __future__ import annotations

import os
import sys
import textwrap

import pytest

from tests.helpers.procs import Proc

pytestmark = pytest.mark.ros

PUB = textwrap.dedent(
    """
    import time, rclpy
    from rstack import graph
    from rstack.ros_types import topic_class, topic_qos
    rclpy.init()
    node = rclpy.create_node("xproc_pub")
    t = graph.FRANKA_STATUS
    pub = node.create_publisher(topic_class(t), t.name, topic_qos(t))
    deadline = time.monotonic() + 60
    while pub.get_subscription_count() == 0 and time.monotonic() < deadline:  # matched, not just discovered
        time.sleep(0.05)
    time.sleep(0.5)  # the reader matches the writer a moment after the writer matched it
    for i in range(20):
        pub.publish(topic_class(t)(data=f"msg {i} pid {__import__('os').getpid()}"))
        time.sleep(0.02)
    print("published 20", flush=True)
    time.sleep(1.0)
    """
)
SUB = textwrap.dedent(
    """
    import time, rclpy
    from rstack import graph
    from rstack.ros_types import topic_class
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    rclpy.init()
    node = rclpy.create_node("xproc_sub")
    got = []
    t = graph.FRANKA_STATUS
    node.create_subscription(topic_class(t), t.name, lambda m: got.append(m.data),
                             QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE))
    deadline = time.monotonic() + 60
    while len(got) < 20 and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.05)
    print("received", len(got), got[0] if got else "", flush=True)
    """
)


def test_publisher_and_subscriber_in_different_processes():
    assert os.environ["ROS_DOMAIN_ID"].isdigit()
    with Proc([sys.executable, "-c", SUB]) as sub, Proc([sys.executable, "-c", PUB]) as pub:
        m = sub.wait_for(r"received (\d+) msg 0 pid (\d+)", timeout=90)
        assert int(m.group(1)) == 20
        assert int(m.group(2)) == pub.p.pid != os.getpid()
        pub.wait_for("published 20", timeout=30)
        sub.assert_no_errors()
        pub.assert_no_errors()
