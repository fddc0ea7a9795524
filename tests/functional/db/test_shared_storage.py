"""Hosts on one storage, on SQLite and MariaDB: each row's disk_available_least counts every
live host's over-commit there, read in the reconcile (one query, only on shared storage);
the storage_pools view counts each storage once; revision 0004 on rows in place."""

from __future__ import annotations

import pytest
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import Integer, text

from resource_tracker.audit.tracker import SharedStorage
from resource_tracker.db import schema
from tests.functional.db.test_schema import insert_shipped_rows, migrate
from tests.support.nodes import StatementLog, node

GiB = 2**30
NFS = "nfs:fs1.example.org:/export/nova"
FREE = 500 * GiB + 123  # what each host's statvfs says is free on the share
OTHERS_QUERY = "SELECT coalesce(sum(compute_nodes.disk_overcommit_bytes)"


def report(database, host: str, overcommit_gib: float, storage_id: str | None = NFS, **changes):
    """One host's audit: its own domains' over-commit, on `storage_id` (None: its own disk)."""
    overcommit = int(overcommit_gib * GiB)
    values = node(
        hypervisor_hostname=host,
        storage_id=storage_id,
        disk_overcommit_bytes=overcommit,
        disk_available_least=(FREE - overcommit) // GiB,  # what the host alone would say
        **changes,
    )
    shared = SharedStorage(storage_id, FREE, overcommit) if storage_id else None
    return database.reconcile_compute_nodes(host, [values], shared)


def least(database) -> dict[str, int]:
    return {n.host: n.disk_available_least for n in database.compute_nodes()}


def test_each_row_counts_every_live_hosts_overcommit_on_the_share(database):
    report(database, "compute-a", 10)
    report(database, "compute-b", 20.5)
    report(database, "compute-c", 5)
    assert least(database)["compute-c"] == (FREE - int(35.5 * GiB)) // GiB  # knew a and b

    report(database, "compute-a", 10)
    report(database, "compute-b", 20.5)

    assert least(database) == dict.fromkeys(["compute-a", "compute-b", "compute-c"], 464)
    rows = {n.host: n for n in database.compute_nodes()}
    assert {n.storage_id for n in rows.values()} == {NFS}
    assert rows["compute-b"].disk_overcommit_bytes == int(20.5 * GiB)


def test_a_host_stops_counting_once_its_row_is_deleted(database):
    for host, overcommit in (("compute-a", 10), ("compute-b", 200), ("compute-a", 10)):
        report(database, host, overcommit)
    assert least(database)["compute-a"] == (FREE - 210 * GiB) // GiB

    database.delete_compute_nodes("compute-b")
    report(database, "compute-a", 10)

    assert least(database) == {"compute-a": (FREE - 10 * GiB) // GiB}


def test_other_storages_and_local_disks_do_not_count(database):
    report(database, "compute-a", 10)
    report(database, "compute-b", 100, storage_id="nfs:fs2.example.org:/export/nova")
    report(database, "compute-c", 100, storage_id=None)

    reconciled = report(database, "compute-a", 10)

    assert (
        reconciled.disk_available_least["compute-a"]
        == least(database)["compute-a"]
        == ((FREE - 10 * GiB) // GiB)
    )
    assert least(database)["compute-c"] == (FREE - 100 * GiB) // GiB
    assert {n.host: n.storage_id for n in database.compute_nodes()}["compute-c"] == (
        "local:compute-c"
    )


def test_the_others_are_read_in_one_query_and_only_on_shared_storage(database):
    report(database, "compute-a", 10)
    report(database, "compute-local", 1, storage_id=None)
    log = StatementLog(database.engine)

    report(database, "compute-local", 1, storage_id=None)
    local_statements = list(log.statements)
    log.clear()
    report(database, "compute-a", 10)

    assert log.count(OTHERS_QUERY) == 1
    assert not any(OTHERS_QUERY in statement for statement in local_statements)
    # steady state on local storage is still the heartbeat and one SELECT
    assert len(local_statements) == 2, local_statements


def test_dry_run_plans_with_the_other_hosts_counted(database):
    report(database, "compute-a", 10)
    report(database, "compute-b", 20)
    overcommit = 10 * GiB
    values = node(
        hypervisor_hostname="compute-a", storage_id=NFS, disk_overcommit_bytes=overcommit
    )

    (plan,) = database.plan_compute_nodes(
        "compute-a", [values], SharedStorage(NFS, FREE, overcommit)
    )

    assert plan.differences["disk_available_least"] == (
        (FREE - overcommit) // GiB,
        (FREE - 30 * GiB) // GiB,
    )


def test_the_view_counts_each_storage_once(database):
    report(database, "compute-a", 10)
    report(database, "compute-b", 20)
    report(database, "compute-a", 10)
    report(database, "compute-c", 7, storage_id=None, local_gb=100, local_gb_used=40)
    report(database, "compute-gone", 1000)
    database.delete_compute_nodes("compute-gone")

    pools = {pool["storage_id"]: pool for pool in database.storage_pools()}

    assert set(pools) == {NFS, "local:compute-c"}
    nfs, local = pools[NFS], pools["local:compute-c"]
    assert (nfs["hosts"], nfs["local_gb"], nfs["free_gb"]) == (2, 999, 699)
    assert int(nfs["disk_overcommit_bytes"]) == 30 * GiB
    assert nfs["disk_available_least"] == (FREE - 30 * GiB) // GiB
    assert (local["hosts"], local["local_gb"], local["free_gb"]) == (1, 100, 60)
    with database.engine.connect() as connection:
        fleet = connection.execute(
            text("SELECT SUM(local_gb) AS size, SUM(hosts) AS hosts FROM storage_pools")
        ).one()
    assert (int(fleet.size), int(fleet.hosts)) == (999 + 100, 3)


def test_revision_0004_names_the_storage_of_rows_in_place(empty):
    migrate(empty, "0001")
    insert_shipped_rows(empty)  # a named row, and one without a name that 0002 soft-deletes
    migrate(empty, "0003")

    migrate(empty, "0004")

    with empty.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT id, storage_id, disk_overcommit_bytes FROM compute_nodes ORDER BY id")
        ).all()
        pools = connection.execute(text("SELECT storage_id, hosts FROM storage_pools")).all()
    assert [tuple(row) for row in rows] == [(1, "local:compute-1", 0), (2, "local:compute-1", 0)]
    assert [tuple(pool) for pool in pools] == [("local:compute-1", 1)]  # row 2 is deleted


def test_a_later_migration_that_copies_compute_nodes_keeps_the_view(database):
    report(database, "compute-a", 10)
    # what a future revision changing a column does (SQLite copies the table and renames it)
    with database.engine.begin() as connection, schema.views_kept_working(connection):
        operations = Operations(MigrationContext.configure(connection))
        with operations.batch_alter_table("compute_nodes") as batch:
            batch.alter_column("running_vms", existing_type=Integer, nullable=True)

    assert [pool["hosts"] for pool in database.storage_pools()] == [1]
    report(database, "compute-b", 5)
    assert [pool["hosts"] for pool in database.storage_pools()] == [2]


@pytest.fixture
def empty(db_url):
    from resource_tracker.db.api import Database

    database = Database(db_url)
    yield database
    database.dispose()
