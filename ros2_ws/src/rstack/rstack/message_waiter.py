"""Subscriptions whose messages are taken in the calling thread, through a wait set of its own (no executor).

rclpy's executors rebuild their wait set, walk every entity of their nodes and run each callback as a task on every
`spin_once`: 0.15-0.3 ms more per message at the median on this project's 2-core machine (bench/bench_policy_ros.py,
its two transport probes). A
thread that waits on a few latency-critical topics (the policy node's fast head: touch, TCP pose, gripper) needs
none of it. `MessageWaiter` keeps a wait set with those subscriptions and one guard condition (to end a wait
early), takes one message per call, the first ready subscription in the order given, and runs that subscription's
own callback. `drain` takes every message waiting instead, for a thread that takes a busy stream in bulk (the
recorder: rclpy's MultiThreadedExecutor lost 13-26 % of the messages at 630 msg/s, at a whole core,
`bench/bench_recorder.py`). It uses the wait set binding that `rclpy.wait_for_message` uses.
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
        return any(self._take(sub) for sub in self._ready(timeout_s))

    def drain(self, timeout_s: float, max_per_subscription: int = 100) -> int:
        """Wait up to `timeout_s` for messages, then handle every message waiting on each ready subscription (at most
        `max_per_subscription` each, in the order given); returns how many. For a thread that takes a busy stream of
        messages in bulk (the recorder): one wait for many messages."""
        handled = 0
        for sub in self._ready(timeout_s):
            for _ in range(max_per_subscription):
                if not self._take(sub):
                    break
                handled += 1
        return handled

    def _ready(self, timeout_s: float) -> list[Subscription]:
        """The subscriptions with a message waiting after a wait of at most `timeout_s` (or `wake()`), in order."""
        ws = self._wait_set
        ws.clear_entities()
        for sub in self._subs:
            ws.add_subscription(sub.handle)
        ws.add_guard_condition(self._guard.handle)
        ws.wait(max(0, int(timeout_s * 1e9)))  # releases the GIL while it waits
        ready = ws.get_ready_entities("subscription")
        return [sub for sub in self._subs if sub.handle.pointer in ready]

    def _take(self, sub: Subscription) -> bool:
        """Take one message of `sub` and run its callback (with the message info if it takes one); False if none."""
        with sub.handle:
            taken = sub.handle.take_message(sub.msg_type, sub.raw)
        if taken is None:  # nothing (left), or a message the middleware dropped after all
            return False
        self.handled += 1
        if sub._callback_type is Subscription.CallbackType.WithMessageInfo:  # as rclpy's executors decide it
            sub.callback(*taken)
        else:
            sub.callback(taken[0])
        return True

    def wake(self) -> None:
        """End the current (or the next) `spin_once` wait at once."""
        self._guard.trigger()
