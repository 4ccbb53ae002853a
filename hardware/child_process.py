"""Child processes that die with the process that started them (Linux `PR_SET_PDEATHSIG`), ROS-free.

A node left running after whatever started it was killed (SIGKILL, a CI timeout, `timeout`) goes on acting on the
graph: an orphaned policy node kept planning, ticking and sending targets to the next run's topics on its domain.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None


def die_with_parent(sig: int = signal.SIGTERM) -> Callable[[], None] | None:
    """A `preexec_fn` for `subprocess.Popen`: the child gets `sig` when this process dies, however it died.

    The kernel sends it when the *thread* that started the child ends, so it is only armed for children started from
    the main thread (elsewhere, and off Linux, None: no such signal). A parent that dies between the fork and the
    `prctl` is caught too: the child then exits at once."""
    if _LIBC is None or threading.current_thread() is not threading.main_thread():
        return None
    prctl, parent, signum = _LIBC.prctl, os.getpid(), int(sig)  # looked up here: the child only makes calls

    def preexec() -> None:  # in the child, between fork and exec
        prctl(_PR_SET_PDEATHSIG, signum)
        if os.getppid() != parent:
            os._exit(1)

    return preexec
