"""Resolve the graph's type names and QoS profile names into rclpy objects (imports ROS lazily)."""

from __future__ import annotations

import importlib
from typing import Any

from rstack import graph


def message_class(type_name: str) -> Any:
    """`sensor_msgs/msg/Image` -> the Python class `sensor_msgs.msg.Image` (also for `/srv/`)."""
    try:
        pkg, kind, name = type_name.split("/")
    except ValueError:
        raise ValueError(f"bad ROS type name {type_name!r}: expected 'pkg/msg/Name' or 'pkg/srv/Name'") from None
    module = importlib.import_module(f"{pkg}.{kind}")
    return getattr(module, name)


def qos(profile_name: str):  # -> rclpy.qos.QoSProfile
    """The rclpy QoSProfile for one of graph.QOS_PROFILES."""
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

    try:
        spec = graph.QOS_PROFILES[profile_name]
    except KeyError:
        raise ValueError(f"unknown QoS profile {profile_name!r} (known: {', '.join(graph.QOS_PROFILES)})") from None
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=spec["depth"],
        reliability=ReliabilityPolicy.BEST_EFFORT
        if spec["reliability"] == "best_effort"
        else ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.TRANSIENT_LOCAL
        if spec["durability"] == "transient_local"
        else DurabilityPolicy.VOLATILE,
    )


def topic_qos(topic: graph.Topic):
    return qos(topic.qos)


def topic_class(topic: graph.Topic) -> Any:
    return message_class(topic.msg_type)
