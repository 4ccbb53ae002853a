"""Subscriptions whose messages are taken in the calling thread, through a wait set of its own (no executor).

rclpy's executors rebuild their wait set, walk every entity of their nodes and run each callback as a task on every
`spin_once`: 0.15-0.3 ms more per message at the median on this project's 2-core machine (bench/bench_policy_ros.py,
its two transport probes). A
thread that waits on a few latency-critical topics (the policy node's fast head: touch, TCP pose, gripper) needs
none of it. `MessageWaiter` keeps a wait set with those subscriptions and one guard condition (to end a wait
early), takes one message per call, the first ready subscription in the order given, and runs that subscription's
own callback. It uses the wait set binding that `rclpy.wait_for_message` uses.
"""

from __future__ import annotations

from collections.abc import Sequence

from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.node import Node
from rclpy.subscription import Subscription


class MessageWaiter:
    """Wait for and handle messages of `subscriptions` (created on `node`) in the calling thread.

    The order is the priority: when several have a message waiting, the first one's is handled first."""

    def __init__(self, node: Node, subscriptions: Sequence[Subscription]) -> None:
        if not subscriptions:
            raise ValueError("MessageWaiter needs at least one subscription")
        self._subs = list(subscriptions)
        self._guard = node.create_guard_condition(lambda: None)
        self._wait_set = _rclpy.WaitSet(len(self._subs), 1, 0, 0, 0, 0, node.context.handle)
        self.handled = 0

    def spin_once(self, timeout_s: float) -> bool:
        """Run one callback on one message if one arrives within `timeout_s` (or is waiting); True if it ran.

        Returns early, False, after `wake()`."""
        ws = self._wait_set
        ws.clear_entities()
        for sub in self._subs:
            ws.add_subscription(sub.handle)
        ws.add_guard_condition(self._guard.handle)
        ws.wait(max(0, int(timeout_s * 1e9)))  # releases the GIL while it waits
        ready = ws.get_ready_entities("subscription")
        for sub in self._subs:
            if sub.handle.pointer not in ready:
                continue
            with sub.handle:
                taken = sub.handle.take_message(sub.msg_type, sub.raw)
            if taken is None:  # the middleware had nothing after all (e.g. a message it dropped)
                continue
            self.handled += 1
            sub.callback(taken[0])
            return True
        return False

    def wake(self) -> None:
        """End the current (or the next) `spin_once` wait at once."""
        self._guard.trigger()
