"""Signals as bytes in a pipe, caught from the moment the daemon starts.

SIGHUP's default action ends the process, so a reload asked for during start-up (while the
config is read or the database checked) would kill the daemon. Here a caught signal only
writes its number to a pipe (signal.set_wakeup_fd), which the loop reads once it runs: a
SIGHUP during start-up is a reload as soon as the loop starts.
"""

from __future__ import annotations

import os
import signal


def _record(_signum, _frame) -> None:
    """The number is already in the pipe: Python's C handler wrote it."""


class SignalPipe:
    """Must be made in the main thread, as every signal handler."""

    def __init__(self):
        self.read_fd, write_fd = os.pipe()
        os.set_blocking(self.read_fd, False)
        os.set_blocking(write_fd, False)
        signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)

    def catch(self, *signums: int) -> None:
        """From now on `signums` only land in the pipe, instead of their default action."""
        for signum in signums:
            signal.signal(signum, _record)

    def received(self) -> bytes:
        """The numbers of the signals caught since the last call (empty if none)."""
        try:
            return os.read(self.read_fd, 64)
        except BlockingIOError:
            return b""
