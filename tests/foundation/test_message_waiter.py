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
