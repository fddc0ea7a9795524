"""The daemon's heartbeat at most once per report_interval: an unchanged host's reconcile
sends nothing while its last committed heartbeat is younger; a change, the full read and a
heartbeat that is due still go out."""

from __future__ import annotations

import pytest
from sqlalchemy import event, text

from resource_tracker.db import liveness, schema
from resource_tracker.exception import SchemaNotCurrent
from tests.support.nodes import StatementLog, node

EVERY = 4
INTERVAL_S = 10.0
NO_DEVICES: dict = {"node-1": []}
DELETE_HEAD = text("DELETE FROM alembic_version WHERE version_num = :head")
INSERT_HEAD = text("INSERT INTO alembic_version (version_num) VALUES (:head)")


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(database) -> Clock:
    """The daemon's settings: a full read every EVERY reconciles, report_interval 10 s."""
    clock = Clock()
    database.full_read_every = EVERY
    database.heartbeats = liveness.Heartbeats(INTERVAL_S, clock)
    return clock


class Checkouts:
    """Connections taken from the engine's pool."""

    def __init__(self, engine):
        self.count = 0
        event.listen(engine, "checkout", self._checked_out)

    def _checked_out(self, *_args) -> None:
        self.count += 1


def reconcile(database, **changes):
    return database.reconcile_compute_nodes("compute-1", [node(**changes)], None, NO_DEVICES)


def report_count(database) -> int:
    return database.services("compute-1")[0].report_count


def test_unchanged_audits_within_report_interval_send_nothing(database, clock):
    reconcile(database)
    log, checkouts = StatementLog(database.engine), Checkouts(database.engine)

    results = []
    for _ in range(EVERY - 1):
        clock.now += 2
        results.append(reconcile(database))

    assert log.statements == []
    assert checkouts.count == 0
    assert [(r.changed, r.read, r.sent) for r in results] == [(False, False, False)] * (EVERY - 1)
    assert database.skipped == EVERY - 1
    assert report_count(database) == 1


def test_the_heartbeat_goes_out_once_report_interval_has_passed(database, clock):
    reconcile(database)
    clock.now += INTERVAL_S - 0.5
    assert reconcile(database).sent is False
    clock.now += 0.5
    log = StatementLog(database.engine)

    beat = reconcile(database)

    assert (beat.sent, beat.read) == (True, False)
    assert [s.split(" SET")[0] for s in log.statements] == ["UPDATE services"]
    assert report_count(database) == 2
    clock.now += 1
    assert reconcile(database).sent is False  # the new beat is the one counted from


def test_a_change_is_written_at_once_with_its_heartbeat(database, clock):
    reconcile(database)
    clock.now += 1

    changed = reconcile(database, vcpus_used=21)

    assert (changed.changed, changed.sent) == (True, True)
    assert database.compute_nodes("compute-1")[0].vcpus_used == 21
    assert report_count(database) == 2
    clock.now += 1
    assert reconcile(database, vcpus_used=21).sent is False


def test_a_row_changed_by_hand_is_put_back_within_full_read_every(database, clock):
    reconcile(database)
    with database.engine.begin() as connection:
        connection.execute(text("UPDATE compute_nodes SET vcpus = 999"))

    seen = []
    for _ in range(EVERY):
        clock.now += 1  # audits faster than report_interval: the skipped ones count too
        reconcile(database)
        seen.append(database.compute_nodes("compute-1")[0].vcpus)

    assert seen == [999] * (EVERY - 1) + [64]
    assert database.skipped == EVERY - 1


def test_a_failed_write_is_not_a_beat(database, clock):
    reconcile(database)
    clock.now += INTERVAL_S
    with database.engine.begin() as connection:
        connection.execute(DELETE_HEAD, {"head": schema.head()})
    with pytest.raises(SchemaNotCurrent):  # the heartbeat's WHERE: nothing written
        reconcile(database)
    with database.engine.begin() as connection:
        connection.execute(INSERT_HEAD, {"head": schema.head()})
    clock.now += 1

    again = reconcile(database)

    assert again.sent is True
    assert report_count(database) == 2


def test_a_beat_between_audits_is_the_heartbeat_alone(database, clock):
    assert database.beat_due("compute-1") is None  # the first beat is a reconcile's
    reconcile(database)
    assert database.beat_due("compute-1") == clock.now + INTERVAL_S
    clock.now += INTERVAL_S
    log = StatementLog(database.engine)

    database.beat("compute-1")

    assert [s.split(" SET")[0] for s in log.statements] == ["UPDATE services"]
    assert report_count(database) == 2
    assert database.beat_due("compute-1") == clock.now + INTERVAL_S
    clock.now += INTERVAL_S - 1
    assert reconcile(database).sent is False  # an audit just after it sends nothing


def test_a_beat_into_a_schema_not_current_is_refused_and_not_a_beat(database, clock):
    reconcile(database)
    due = database.beat_due("compute-1")
    with database.engine.begin() as connection:
        connection.execute(DELETE_HEAD, {"head": schema.head()})
    clock.now += INTERVAL_S

    with pytest.raises(SchemaNotCurrent):
        database.beat("compute-1")

    assert database.beat_due("compute-1") == due
    assert report_count(database) == 1


def test_with_report_interval_0_only_reconciles_beat(database):
    database.heartbeats = liveness.Heartbeats(0)
    reconcile(database)
    assert database.beat_due("compute-1") is None
