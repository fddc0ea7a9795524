"""When a host's heartbeat is due: once per report_interval, as in Nova.

A reconcile that would send the heartbeat alone (its values equal those last committed)
sends nothing at all while the host's last committed heartbeat is younger than
report_interval, so audits that come faster than that (libvirt's events, a short period) do
not multiply the database's writes; between audits further apart, the daemon sends the
heartbeat on its own when it is due (next_due). Only a committed transaction is a beat. Its
time is read on the process's monotonic clock before the transaction begins: a beat is
never taken for younger than it is.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class Heartbeats:
    def __init__(self, interval_s: float = 0, clock: Callable[[], float] = time.monotonic):
        self.interval_s = interval_s  # 0: every reconcile beats
        self.clock = clock
        self._last: dict[str, float] = {}  # host: when its last committed beat began

    def due(self, host: str, now: float) -> bool:
        last = self._last.get(host)
        return last is None or now - last >= self.interval_s

    def beaten(self, host: str, began: float) -> None:
        """A transaction that began at `began` (clock()) committed the host's heartbeat."""
        self._last[host] = began

    def next_due(self, host: str) -> float | None:
        """When the host's next heartbeat is due (clock()); None: not before its first
        beat, nor with an interval of 0 (every reconcile beats)."""
        last = self._last.get(host)
        if last is None or not self.interval_s:
            return None
        return last + self.interval_s
