"""Reconcile on SQLite and MariaDB: identity, write-on-change, heartbeat, soft delete, revival."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import Row, event, select, text

from resource_tracker.db.models import compute_nodes
from resource_tracker.db.reconcile import BINARY
from tests.support.nodes import StatementLog, node


def all_rows(database, host: str) -> list[Row]:
    """Every compute_nodes row of `host`, soft-deleted ones included, by id."""
    with database.engine.connect() as connection:
        query = select(compute_nodes).where(compute_nodes.c.host == host)
        return list(connection.execute(query.order_by(compute_nodes.c.id)))


def test_first_reconcile_inserts_one_live_row(database):
    assert database.reconcile_compute_nodes("compute-1", [node()]).changed is True

    (row,) = database.compute_nodes("compute-1")
    (service,) = database.services("compute-1")
    assert (row.hypervisor_hostname, row.vcpus, row.ram_allocation_ratio) == ("node-1", 64, 1.5)
    assert (row.deleted, len(row.uuid), row.service_id) == (0, 36, service.id)
    assert row.created_at is not None and row.updated_at is None
    assert (service.binary, service.report_count, service.disabled) == (BINARY, 1, False)


def test_unchanged_values_issue_no_update_on_compute_nodes(database):
    database.reconcile_compute_nodes("compute-1", [node()])
    log = StatementLog(database.engine)

    changes = [database.reconcile_compute_nodes("compute-1", [node()]).changed for _ in range(3)]

    assert changes == [False, False, False]
    assert log.count("UPDATE compute_nodes ") == 0
    assert log.count("INSERT INTO compute_nodes ") == 0
    assert log.count("UPDATE services ") == 3  # the heartbeat, every time


def test_a_change_updates_only_what_changed(database):
    database.reconcile_compute_nodes("compute-1", [node()])
    (before,) = database.compute_nodes("compute-1")
    log = StatementLog(database.engine)

    assert database.reconcile_compute_nodes("compute-1", [node(vcpus_used=21)]).changed is True

    (after,) = database.compute_nodes("compute-1")
    (update,) = [s for s in log.statements if s.startswith("UPDATE compute_nodes ")]
    assert "vcpus_used=" in update and "memory_mb=" not in update
    assert (after.id, after.uuid, after.vcpus_used) == (before.id, before.uuid, 21)
    assert after.updated_at is not None


def test_heartbeat_and_timestamps_come_from_the_database_clock(database):
    log = StatementLog(database.engine)
    database.reconcile_compute_nodes("compute-1", [node()])
    database.reconcile_compute_nodes("compute-1", [node(running_vms=6)])

    server_utc = "UTC_TIMESTAMP()" if database.engine.name != "sqlite" else "CURRENT_TIMESTAMP"
    writes = [s for s in log.statements if s.startswith(("INSERT", "UPDATE"))]
    assert all(f"updated_at={server_utc}" in s.replace(" ", "") for s in writes if "SET" in s)
    (service,) = database.services("compute-1")
    (row,) = database.compute_nodes("compute-1")
    with database.engine.connect() as connection:
        now = connection.execute(text(f"SELECT {server_utc}")).scalar()
    now = datetime.fromisoformat(now) if isinstance(now, str) else now  # SQLite: text
    assert service.report_count == 2
    for stamp in (service.updated_at, row.created_at, row.updated_at):
        assert timedelta(0) <= now - stamp < timedelta(seconds=60)


def test_rows_no_longer_reported_are_soft_deleted_on_this_host_only(database):
    database.reconcile_compute_nodes("compute-1", [node()])
    database.reconcile_compute_nodes("compute-2", [node()])

    assert database.reconcile_compute_nodes(
        "compute-1", [node(hypervisor_hostname="renamed")]
    ).changed

    old, new = all_rows(database, "compute-1")
    assert (old.hypervisor_hostname, old.deleted, old.deleted_at is not None) == (
        "node-1",
        old.id,
        True,
    )
    assert (new.hypervisor_hostname, new.deleted) == ("renamed", 0)
    (other,) = all_rows(database, "compute-2")
    assert (other.hypervisor_hostname, other.deleted) == ("node-1", 0)
    assert [n.hypervisor_hostname for n in database.compute_nodes("compute-1")] == ["renamed"]


def test_a_row_that_comes_back_is_revived_with_its_uuid(database):
    database.reconcile_compute_nodes("compute-1", [node()])
    (first,) = database.compute_nodes("compute-1")
    database.reconcile_compute_nodes("compute-1", [node(hypervisor_hostname="other")])

    assert database.reconcile_compute_nodes("compute-1", [node(vcpus=128)]).changed is True

    revived, other = all_rows(database, "compute-1")
    assert (revived.id, revived.uuid, revived.deleted, revived.deleted_at) == (
        first.id,
        first.uuid,
        0,
        None,
    )
    assert revived.vcpus == 128 and other.deleted == other.id
    assert len(all_rows(database, "compute-1")) == 2


def test_a_failed_reconcile_leaves_the_old_rows_whole(database):
    database.reconcile_compute_nodes("compute-1", [node()])

    def fail_on_compute_nodes_update(_conn, _cursor, statement, *_args):
        if statement.startswith("UPDATE compute_nodes"):
            raise RuntimeError("injected: the daemon dies here")

    event.listen(database.engine, "before_cursor_execute", fail_on_compute_nodes_update)
    with pytest.raises(RuntimeError, match="injected"):
        database.reconcile_compute_nodes("compute-1", [node(vcpus_used=30)])
    event.remove(database.engine, "before_cursor_execute", fail_on_compute_nodes_update)

    (row,) = database.compute_nodes("compute-1")
    (service,) = database.services("compute-1")
    assert (row.vcpus_used, service.report_count) == (20, 1)  # heartbeat rolled back too
