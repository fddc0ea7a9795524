"""libvirt's events, rung from libvirt's event thread, heard by the loop through a pipe.

The event thread is a native thread: it may not touch the loop's queue, so it counts the
event under a lock and writes a byte to a pipe the loop waits on (a full pipe only means
the loop has yet to read the earlier bytes). Closing takes the same lock: an event that
arrives after it writes nothing (its file descriptor may already be another file's).
"""

from __future__ import annotations

import collections
import contextlib
import os
import threading
import time
from dataclasses import dataclass

from resource_tracker.daemon.schedule import Pending


@dataclass(frozen=True, slots=True)
class Rung:
    """The events since the last take(): when, and how many of each kind."""

    pending: Pending
    kinds: tuple[tuple[str, int], ...]


class Doorbell:
    def __init__(self):
        self.read_fd, self._write_fd = os.pipe()
        os.set_blocking(self.read_fd, False)
        os.set_blocking(self._write_fd, False)
        self._lock = threading.Lock()
        self._kinds: collections.Counter[str] = collections.Counter()
        self._pending: Pending | None = None
        self._closed = False

    def ring(self, kind: str) -> None:
        """One event of `kind` arrived (any thread)."""
        now = time.monotonic()
        with self._lock:
            if self._closed:
                return
            self._kinds[kind] += 1
            self._pending = Pending(now, now).merged(self._pending)
            with contextlib.suppress(BlockingIOError):
                os.write(self._write_fd, b"\0")

    def take(self) -> Rung | None:
        """The events since the last take, None if none."""
        with contextlib.suppress(BlockingIOError):
            while os.read(self.read_fd, 4096):
                pass
        with self._lock:
            pending, kinds = self._pending, self._kinds
            self._pending, self._kinds = None, collections.Counter()
        if pending is None:
            return None
        return Rung(pending, tuple(sorted(kinds.items())))

    def close(self) -> None:
        with self._lock:
            self._closed = True
            os.close(self.read_fd)
            os.close(self._write_fd)
