"""The daemon's reconcile of an unchanged host (full_read_every > 1): the heartbeat alone,
with a full read every full_read_every reconciles that puts back a row changed by hand."""

from __future__ import annotations

from sqlalchemy import text

from tests.support.nodes import StatementLog, node

EVERY = 3
NO_DEVICES: dict = {"node-1": []}


def reconcile(database, **changes) -> bool:
    return database.reconcile_compute_nodes(
        "compute-1", [node(**changes)], None, NO_DEVICES
    ).changed


def test_an_unchanged_host_sends_the_heartbeat_alone(database):
    database.full_read_every = EVERY
    reconcile(database)
    log = StatementLog(database.engine)

    changes = [reconcile(database) for _ in range(EVERY)]

    beats = [s for s in log.statements if s.startswith("UPDATE services ")]
    assert changes == [False] * EVERY
    assert len(beats) == EVERY
    # EVERY - 1 reconciles sent the heartbeat alone; the last read the row and its devices
    assert len(log.statements) == EVERY + 2, log.statements
    assert (database.heartbeats_only, database.full_reconciles) == (EVERY - 1, 2)
    assert database.services("compute-1")[0].report_count == EVERY + 1


def test_a_row_changed_by_hand_is_put_back_within_full_read_every(database):
    database.full_read_every = EVERY
    reconcile(database)
    with database.engine.begin() as connection:
        connection.execute(text("UPDATE compute_nodes SET vcpus = 999"))

    seen = []
    for _ in range(EVERY):
        reconcile(database)
        seen.append(database.compute_nodes("compute-1")[0].vcpus)

    assert seen == [999] * (EVERY - 1) + [64]


def test_a_changed_value_is_written_at_once(database):
    database.full_read_every = EVERY
    reconcile(database)
    reconcile(database)

    assert reconcile(database, vcpus_used=21) is True
    assert database.compute_nodes("compute-1")[0].vcpus_used == 21
    again = database.reconcile_compute_nodes("compute-1", [node(vcpus_used=21)], None, NO_DEVICES)
    assert (again.changed, again.read) == (False, False)  # what the metrics count
