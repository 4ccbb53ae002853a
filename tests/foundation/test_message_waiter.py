"""MessageWaiter: messages of a few subscriptions taken in the calling thread, first-listed first, no executor."""

from __future__ import annotations

import threading
import time

import pytest
from std_msgs.msg import String

from rstack.message_waiter import MessageWaiter

pytestmark = pytest.mark.ros


def _wait_matched(pub, deadline_s: float = 10.0) -> None:
    end = time.monotonic() + deadline_s
    while pub.get_subscription_count() == 0 and time.monotonic() < end:
        time.sleep(0.02)
    assert pub.get_subscription_count() > 0
    time.sleep(0.2)  # the reader side matches a moment after the writer


def test_the_waiter_handles_one_message_per_call_first_subscription_first_and_wakes_on_request(ros_node):
    n = ros_node
    got: list[tuple[str, str]] = []
    urgent = n.create_subscription(String, "/waiter_test/urgent", lambda m: got.append(("urgent", m.data)), 10)
    bulk = n.create_subscription(String, "/waiter_test/bulk", lambda m: got.append(("bulk", m.data)), 10)
    waiter = MessageWaiter(n, [urgent, bulk])
    pub_urgent = n.create_publisher(String, "/waiter_test/urgent", 10)
    pub_bulk = n.create_publisher(String, "/waiter_test/bulk", 10)
    _wait_matched(pub_urgent)
    _wait_matched(pub_bulk)

    assert waiter.spin_once(0.05) is False and got == []  # nothing sent: the wait times out
    pub_bulk.publish(String(data="b1"))
    pub_bulk.publish(String(data="b2"))
    pub_urgent.publish(String(data="u1"))
    time.sleep(0.2)  # all three delivered before the first call
    # The urgent message is handled first although it was sent last; one message per call.
    assert waiter.spin_once(1.0) is True and got == [("urgent", "u1")]
    assert waiter.spin_once(1.0) is True and got[-1] == ("bulk", "b1")
    assert waiter.spin_once(1.0) is True and got[-1] == ("bulk", "b2")
    assert waiter.spin_once(0.05) is False and len(got) == 3
    assert waiter.handled == 3

    # A message sent while the caller waits is handled by that wait.
    threading.Timer(0.2, lambda: pub_bulk.publish(String(data="b3"))).start()
    assert waiter.spin_once(5.0) is True and got[-1] == ("bulk", "b3")

    # wake() from another thread ends a long wait at once, with nothing handled.
    threading.Timer(0.2, waiter.wake).start()
    t0 = time.monotonic()
    assert waiter.spin_once(30.0) is False
    assert time.monotonic() - t0 < 10.0
    assert len(got) == 4


def test_a_waiter_needs_a_subscription(ros_node):
    with pytest.raises(ValueError, match="at least one subscription"):
        MessageWaiter(ros_node, [])


def test_drain_takes_every_waiting_message_in_one_call_and_hands_info_to_callbacks_that_take_it(ros_node):
    n = ros_node
    got: list[tuple[str, str, int]] = []
    a = n.create_subscription(
        String,
        "/waiter_test/drain_a",
        lambda m, info: got.append(("a", m.data, info["publication_sequence_number"])),
        10,
    )
    b = n.create_subscription(String, "/waiter_test/drain_b", lambda m: got.append(("b", m.data, -1)), 10)
    waiter = MessageWaiter(n, [a, b])
    pub_a = n.create_publisher(String, "/waiter_test/drain_a", 10)
    pub_b = n.create_publisher(String, "/waiter_test/drain_b", 10)
    _wait_matched(pub_a)
    _wait_matched(pub_b)

    assert waiter.drain(0.05) == 0 and got == []
    for i in range(4):
        pub_a.publish(String(data=f"a{i}"))
    for i in range(3):
        pub_b.publish(String(data=f"b{i}"))
    time.sleep(0.2)
    assert waiter.drain(1.0) == 7  # all of them, in one call: subscription by subscription, each in order
    assert [k + ":" + d for k, d, _ in got] == ["a:a0", "a:a1", "a:a2", "a:a3", "b:b0", "b:b1", "b:b2"]
    seqs = [s for k, _, s in got if k == "a"]
    assert seqs == list(range(seqs[0], seqs[0] + 4)) and seqs[0] >= 1  # the middleware's info reached the callback
    assert waiter.drain(0.05) == 0 and waiter.handled == 7

    # At most `max_per_subscription` per subscription per call; the rest wait for the next call.
    for i in range(5):
        pub_b.publish(String(data=f"c{i}"))
    time.sleep(0.2)
    assert waiter.drain(1.0, max_per_subscription=2) == 2
    assert waiter.drain(1.0, max_per_subscription=10) == 3
    assert [d for _, d, _ in got[-5:]] == [f"c{i}" for i in range(5)]
