"""The log line of a successful audit, quiet while nothing changes.

A host whose numbers do not move would otherwise write one INFO line a minute, 1,440 a day.
So: the first audit after start-up is INFO (what the host is); one that changed the row is
INFO and says what changed; one that changed nothing is DEBUG, and at most once every
SUMMARY_EVERY_S an INFO line tells that the daemon is alive and how many audits found
nothing new since the last INFO line."""

from __future__ import annotations

import dataclasses
import logging

from resource_tracker.audit.tracker import AuditResult
from resource_tracker.resources import ComputeNodeValues

SUMMARY_EVERY_S = 3600.0
# a column whose value is longer (a JSON document: numa_topology, stats) is named, not shown
SHOWN_UP_TO = 40


class AuditLog:
    def __init__(self, summary_every_s: float = SUMMARY_EVERY_S):
        self._every_s = summary_every_s
        self._previous: ComputeNodeValues | None = None
        self._last_info: float | None = None
        self._quiet = 0  # audits that changed nothing since the last INFO line

    def line(self, result: AuditResult, now: float) -> tuple[int, str]:
        """The level and text to log for `result`, an audit that ended at `now` (monotonic)."""
        previous, self._previous = self._previous, result.values
        summary = f"audit: {result.summary()}"
        if previous is None:
            return self._info(now, summary)
        if result.changed:
            what = (
                changes(previous, result.values)
                or "values as before (the row or its devices were rewritten)"
            )
            return self._info(now, f"{summary}: {what}")
        self._quiet += 1
        if self._last_info is None or now - self._last_info >= self._every_s:
            quiet = self._quiet
            return self._info(now, f"{summary}; {quiet} audit(s) in a row changed nothing")
        return logging.DEBUG, summary

    def _info(self, now: float, text: str) -> tuple[int, str]:
        self._last_info, self._quiet = now, 0
        return logging.INFO, text


def changes(before: ComputeNodeValues, after: ComputeNodeValues) -> str:
    """'free_ram_mb 16896 -> 15872, numa_topology changed': the columns that differ."""
    said = []
    for field in dataclasses.fields(ComputeNodeValues):
        old, new = getattr(before, field.name), getattr(after, field.name)
        if old == new:
            continue
        if max(len(str(old)), len(str(new))) > SHOWN_UP_TO:
            said.append(f"{field.name} changed")
        else:
            said.append(f"{field.name} {old} -> {new}")
    return ", ".join(said)
