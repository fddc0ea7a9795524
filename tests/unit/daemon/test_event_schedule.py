"""When libvirt's events call for an audit: debounced, bounded under a storm, rate limited."""

from __future__ import annotations

import itertools
import os

import pytest

from resource_tracker.daemon.doorbell import Doorbell
from resource_tracker.daemon.schedule import (
    DEBOUNCE_S,
    EVENT_GAP_S,
    MAX_WAIT_S,
    Pending,
    event_audit_due,
)


@pytest.mark.parametrize(
    ("first", "last", "last_start", "due"),
    [
        (100.0, 100.0, 50.0, 100.0 + DEBOUNCE_S),  # one event: half a second after it
        (100.0, 100.3, 50.0, 100.3 + DEBOUNCE_S),  # a burst: after its last event
        (100.0, 109.0, 50.0, 100.0 + MAX_WAIT_S),  # a storm that never pauses: bounded wait
        (100.0, 100.0, 99.8, 99.8 + EVENT_GAP_S),  # just after an audit started: rate limited
    ],
)
def test_event_audit_due(first, last, last_start, due):
    assert event_audit_due(Pending(first, last), last_start) == pytest.approx(due)


def test_no_events_call_for_no_audit():
    assert event_audit_due(None, 0.0) is None


def test_a_storm_gets_at_most_one_audit_a_gap():
    """Events every 10 ms for 30 s: the audits that follow them, each starting when due."""
    last_start, pending, starts = 0.0, None, []
    for tick in range(3000):
        now = 100.0 + tick * 0.01
        due = event_audit_due(pending, last_start)
        if due is not None and due <= now:
            starts.append(now)
            last_start, pending = now, None
        pending = Pending(now, now).merged(pending)

    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert min(gaps) >= EVENT_GAP_S
    assert max(gaps) <= MAX_WAIT_S + 0.011
    assert 30 / MAX_WAIT_S - 1 <= len(starts) <= 30 / EVENT_GAP_S + 1


def test_merged_spans_both():
    assert Pending(5.0, 6.0).merged(Pending(3.0, 4.0)) == Pending(3.0, 6.0)
    assert Pending(5.0, 6.0).merged(None) == Pending(5.0, 6.0)


def test_the_doorbell_counts_events_by_kind_until_taken():
    doorbell = Doorbell()
    try:
        assert doorbell.take() is None
        for kind in ("domain_lifecycle", "node_device_update", "domain_lifecycle"):
            doorbell.ring(kind)
        rung = doorbell.take()
        assert rung is not None
        assert rung.kinds == (("domain_lifecycle", 2), ("node_device_update", 1))
        assert rung.pending.first_s <= rung.pending.last_s
        assert doorbell.take() is None
    finally:
        doorbell.close()


def test_an_event_after_close_writes_to_no_file(tmp_path):
    """libvirt's event thread may ring after the loop closed the doorbell: the pipe's file
    descriptors may by then be other files', which must get nothing."""
    doorbell = Doorbell()
    doorbell.close()
    files = [tmp_path / "a", tmp_path / "b"]  # the two lowest free descriptors: the pipe's
    fds = [os.open(path, os.O_CREAT | os.O_WRONLY) for path in files]
    try:
        doorbell.ring("lifecycle")
    finally:
        for fd in fds:
            os.close(fd)

    assert [path.read_bytes() for path in files] == [b"", b""]
