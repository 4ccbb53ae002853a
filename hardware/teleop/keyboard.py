"""Keyboard teleoperation from a plain terminal: works over SSH, needs no X server or input-device access.

Keys are read from the terminal's stdin in cbreak mode (Ctrl-C still interrupts). A terminal reports key
presses, not releases, so each press (or auto-repeat of a held key) commands motion for `key_hold_s`;
releasing the key stops the stream within that window and the arm's watchdog holds it (the deadman).
"""

from __future__ import annotations

import os
import select
import sys
import termios
import tty
from types import TracebackType

import numpy as np

from hardware.teleop.command import EpisodeKey, TeleopCommand

_LINEAR = {
    "w": (1, 0, 0),
    "s": (-1, 0, 0),
    "a": (0, 1, 0),
    "d": (0, -1, 0),
    "r": (0, 0, 1),
    "f": (0, 0, -1),
    "\x1b[A": (1, 0, 0),
    "\x1b[B": (-1, 0, 0),
    "\x1b[D": (0, 1, 0),
    "\x1b[C": (0, -1, 0),
}
_ANGULAR = {"z": (0, 0, 1), "c": (0, 0, -1)}
_EPISODE = {"B": EpisodeKey.START, "S": EpisodeKey.SUCCESS, "F": EpisodeKey.FAILURE, "X": EpisodeKey.DISCARD}

KEY_HELP = (
    "keys: w/s x+-, a/d y+-, r/f z+-, arrows x/y, z/c yaw+-, space gripper open/close; "
    "B start episode, S stop as success, F stop as failure, X discard; Esc quits"
)


class KeyboardDecoder:
    """Bytes from a terminal -> the current TeleopCommand (one key at a time)."""

    def __init__(self, linear_speed_mps: float = 0.05, angular_speed_rps: float = 0.3, key_hold_s: float = 0.12):
        self.linear_speed = linear_speed_mps
        self.angular_speed = angular_speed_rps
        self.key_hold_s = key_hold_s
        self.command = TeleopCommand()
        self._pending = ""

    def feed(self, data: str, now_s: float) -> list[TeleopCommand]:
        """Consume typed characters; returns one command per recognised key (the last is also `self.command`)."""
        self._pending += data
        out = []
        while self._pending:
            key = self._next_key()
            if key is None:
                break
            cmd = self._decode(key, now_s)
            if cmd is not None:
                self.command = cmd
                out.append(cmd)
        return out

    def _next_key(self) -> str | None:
        p = self._pending
        if p.startswith("\x1b["):
            if len(p) < 3:
                return None  # wait for the rest of the escape sequence
            key, self._pending = p[:3], p[3:]
            return key
        if p == "\x1b":
            self._pending = ""
            return "\x1b"
        key, self._pending = p[0], p[1:]
        return key

    def _decode(self, key: str, now_s: float) -> TeleopCommand | None:
        if key in _LINEAR:
            return TeleopCommand(
                linear=np.array(_LINEAR[key], float) * self.linear_speed, until_s=now_s + self.key_hold_s
            )
        if key in _ANGULAR:
            return TeleopCommand(
                angular=np.array(_ANGULAR[key], float) * self.angular_speed, until_s=now_s + self.key_hold_s
            )
        if key == " ":
            return TeleopCommand(toggle_gripper=True)
        if key in _EPISODE:
            return TeleopCommand(episode=_EPISODE[key])
        if key == "\x1b":
            return TeleopCommand(quit=True)
        return None


class RawTerminal:
    """Puts a terminal in cbreak mode (no echo, no line buffering) and restores it on exit."""

    def __init__(self, fd: int | None = None) -> None:
        self.fd = sys.stdin.fileno() if fd is None else fd
        self._saved: list | None = None

    def __enter__(self) -> RawTerminal:
        if not os.isatty(self.fd):
            raise RuntimeError(
                "keyboard teleop needs a terminal on stdin (run it in a terminal or over `ssh -t`), "
                "or choose another device"
            )
        self._saved = termios.tcgetattr(self.fd)
        tty.setcbreak(self.fd)
        return self

    def read(self, timeout_s: float) -> str:
        """Whatever was typed within `timeout_s` (may be empty)."""
        ready, _, _ = select.select([self.fd], [], [], timeout_s)
        if not ready:
            return ""
        data = os.read(self.fd, 64)
        if not data:
            raise EOFError("terminal closed")
        return data.decode(errors="ignore")

    def __exit__(self, et: type | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        if self._saved is not None:
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)
