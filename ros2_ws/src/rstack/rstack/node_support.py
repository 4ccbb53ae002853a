"""What every rclpy node of the stack shares: graph-typed pubs/subs, parameters, diagnostics, main().

A node subclasses `GraphNode` with its `graph.NodeKind`; parameters are declared from the kind's
defaults (so a wrong type is refused by rclpy), publishers and subscriptions take their type and QoS
from the graph, and every subscription reports its rate and staleness on `/diagnostics`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.node import Node

from hardware.timing import StreamStats
from hardware.wire.stamped import header_stamp_ns
from rstack import graph
from rstack.dds import use_stack_dds_profile
from rstack.ros_types import message_class, topic_class, topic_qos

OK, WARN, ERROR, STALE = (
    DiagnosticStatus.OK,
    DiagnosticStatus.WARN,
    DiagnosticStatus.ERROR,
    DiagnosticStatus.STALE,
)


def stamp_to_s(stamp: Any) -> float:
    """builtin_interfaces/Time -> float seconds."""
    return stamp.sec + stamp.nanosec * 1e-9


def s_to_stamp(t: float):
    from builtin_interfaces.msg import Time

    ns = round(t * 1e9)  # rounding once, on the whole value: 5.9999999999 is 6.0, not 5.0
    return Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


class GraphNode(Node):
    """A node whose interface comes from `rstack.graph`."""

    def __init__(self, kind: graph.NodeKind, default_name: str, diagnostics_period_s: float = 1.0) -> None:
        super().__init__(default_name)
        self.kind = kind
        self.params: dict[str, Any] = {}
        for key, default in kind.parameters.items():
            self.declare_parameter(key, default)
            self.params[key] = self.get_parameter(key).value
        self._streams: dict[str, StreamStats] = {}
        self._diag_sources: list[Callable[[], DiagnosticStatus]] = []
        self._diag_pub = self.create_publisher(DiagnosticArray, graph.DIAGNOSTICS.name, topic_qos(graph.DIAGNOSTICS))
        self.create_timer(diagnostics_period_s, self._publish_diagnostics)

    # ------------------------------------------------------------------ graph-typed endpoints
    def graph_publisher(self, topic: graph.Topic, **fmt: str):
        return self.create_publisher(topic_class(topic), topic.resolve(**fmt), topic_qos(topic))

    def graph_subscription(
        self,
        topic: graph.Topic,
        callback: Callable[[Any], None],
        stale_after_s: float = 0.5,
        on: Node | None = None,
        raw: bool = False,
        **fmt: str,
    ):
        """Subscribe with the graph's type and QoS; rate and staleness go to /diagnostics.

        `on`: create the subscription on that node instead (one served by another thread, e.g. the policy node's fast
        head through a wait set of its own); its rate and staleness are still reported by this one. `raw`: the
        callback gets the serialized message (bytes), not a message object."""
        name = topic.resolve(**fmt)
        stats = StreamStats(name, stale_after_s=stale_after_s)
        self._streams[name] = stats
        cls = topic_class(topic)
        stamped = next(iter(cls.get_fields_and_field_types().items()), None) == ("header", "std_msgs/Header")

        def _cb(msg: Any) -> None:
            if stamped:
                stamp = header_stamp_ns(msg) * 1e-9 if raw else stamp_to_s(msg.header.stamp)
                stats.tick(stamp, self.get_clock().now().nanoseconds * 1e-9)
            else:
                stats.tick()
            callback(msg)

        return (on or self).create_subscription(cls, name, _cb, topic_qos(topic), raw=raw)

    def graph_service(self, service: graph.Service, callback: Callable[[Any, Any], Any], **fmt: str):
        return self.create_service(message_class(service.srv_type), service.resolve(**fmt), callback)

    def graph_client(self, service: graph.Service, **fmt: str):
        return self.create_client(message_class(service.srv_type), service.resolve(**fmt))

    def log_at(self, level: str, msg: str) -> None:
        """Log at "error", "warn" or "info" (for logic that reports through a callback).

        One call site per severity: rclpy refuses a call site whose severity changes between calls.
        """
        log = self.get_logger()
        if level == "error":
            log.error(msg)
        elif level == "warn":
            log.warning(msg)
        else:
            log.info(msg)

    def stream(self, name: str) -> StreamStats:
        return self._streams[name]

    # ------------------------------------------------------------------ diagnostics
    def add_diagnostic(self, source: Callable[[], DiagnosticStatus]) -> None:
        """Register a callable that returns one DiagnosticStatus each diagnostics period."""
        self._diag_sources.append(source)

    def status(
        self, level: int, message: str, values: dict[str, Any] | None = None, name: str = ""
    ) -> DiagnosticStatus:
        return DiagnosticStatus(
            level=level,
            name=f"{self.get_name()}{'/' + name if name else ''}",
            message=message,
            hardware_id=self.get_name(),
            values=[KeyValue(key=k, value=str(v)) for k, v in (values or {}).items()],
        )

    def _publish_diagnostics(self) -> None:
        arr = DiagnosticArray()
        arr.header.stamp = self.get_clock().now().to_msg()
        for name, stats in self._streams.items():
            level = STALE if stats.stale() else OK
            arr.status.append(self.status(level, "stale" if stats.stale() else "ok", stats.report(), name=name))
        for source in self._diag_sources:
            arr.status.append(source())
        self._diag_pub.publish(arr)


def run_node(factory: Callable[[], Node], args: list[str] | None = None, threads: int = 2) -> int:
    """Init rclpy, build the node, spin until SIGINT/SIGTERM, shut down cleanly. Returns the exit code.

    `threads` > 1 spins a multi-threaded executor (callbacks that may block each other), 1 a single-threaded one.
    """
    use_stack_dds_profile()
    rclpy.init(args=args if args is not None else sys.argv)
    node = None
    code = 0
    try:
        node = factory()
        executor = SingleThreadedExecutor() if threads == 1 else MultiThreadedExecutor(num_threads=threads)
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception as exc:  # report and exit non-zero, never a silent death
        if node is not None and not rclpy.ok():
            # SIGINT/SIGTERM shut the context down while the executor was between waits; rclpy then raises
            # RCLError ("context is not valid") instead of ExternalShutdownException. A clean stop, not a fault.
            node.get_logger().info(f"stopped while spinning ({type(exc).__name__})")
        elif node is not None:
            node.get_logger().fatal(f"{type(exc).__name__}: {exc}")
            code = 1
        else:
            print(f"[FATAL] could not start node: {type(exc).__name__}: {exc}", file=sys.stderr)
            code = 1
    finally:
        if node is not None:
            close = getattr(node, "close", None)
            if callable(close):
                close()
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return code
