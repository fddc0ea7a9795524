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


def next_start(last_start: float, last_end: float, interval_s: float, failures: int) -> float:
    """When the audit after one that ran from `last_start` to `last_end` is due."""
    if failures:
        backoff = interval_s * 2 ** min(failures - 1, 32)
        return last_start + min(backoff, max(interval_s, MAX_BACKOFF_S))
    due = last_start + interval_s
    if due < last_end:  # overran: skip the missed ticks, keep the rhythm
        due += math.ceil((last_end - due) / interval_s) * interval_s
    return due
