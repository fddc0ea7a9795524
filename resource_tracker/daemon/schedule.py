"""When audits run: the loop's settings and its schedule, as plain values and functions."""

from __future__ import annotations

import math
from dataclasses import dataclass

from resource_tracker.audit.tracker import HostPolicy

MAX_BACKOFF_S = 300.0


@dataclass(frozen=True, slots=True)
class Settings:
    """What the loop needs; all of it can change on SIGHUP."""

    interval_s: float
    fuzzy_delay_s: float
    policy: HostPolicy
    debug: bool
    on_events: bool = True  # libvirt's events call for an audit soon


def next_start(last_start: float, last_end: float, interval_s: float, failures: int) -> float:
    """When the audit after one that ran from `last_start` to `last_end` is due."""
    if failures:
        backoff = interval_s * 2 ** min(failures - 1, 32)
        return last_start + min(backoff, max(interval_s, MAX_BACKOFF_S))
    due = last_start + interval_s
    if due < last_end:  # overran: skip the missed ticks, keep the rhythm
        due += math.ceil((last_end - due) / interval_s) * interval_s
    return due


# Event-triggered audits: an audit follows libvirt's events DEBOUNCE_S after the last one
# (a VM's start sends several), at most MAX_WAIT_S after the first one under a storm that
# never pauses, and at most one every EVENT_GAP_S.
DEBOUNCE_S = 0.5
MAX_WAIT_S = 2.0
EVENT_GAP_S = 1.0


@dataclass(frozen=True, slots=True)
class Pending:
    """Events not yet covered by an audit: when the first and the last arrived (monotonic)."""

    first_s: float
    last_s: float

    def merged(self, later: Pending | None) -> Pending:
        if later is None:
            return self
        return Pending(min(self.first_s, later.first_s), max(self.last_s, later.last_s))


def event_audit_due(pending: Pending | None, last_start: float) -> float | None:
    """When the events `pending` call for an audit, the last having started at `last_start`;
    None: they call for none."""
    if pending is None:
        return None
    settled = min(pending.last_s + DEBOUNCE_S, pending.first_s + MAX_WAIT_S)
    return max(settled, last_start + EVENT_GAP_S)
