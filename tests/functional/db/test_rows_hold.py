"""Rows the database never refuses and a reconcile never gets wrong, on SQLite and MariaDB:
sizes beyond INT, names that differ in case only, rows changed by hand or by another
writer between our read and our write, and a schema that moved on under a running daemon."""

from __future__ import annotations

import pytest
from sqlalchemy import MetaData, Table, insert, select, text

from resource_tracker.db import schema
from resource_tracker.db.api import Database
from resource_tracker.db.models import services
from resource_tracker.exception import SchemaNotCurrent
from tests.functional.db.test_reconcile import all_rows
from tests.functional.db.test_schema import migrate
from tests.support.nodes import StatementLog, change_after_select, node
from tests.support.schema import newer_release_synced

PREVIOUS = "0004"  # the revision before 0005 (BIGINT sizes, binary names)
BIGINT_MAX = 2**63 - 1
BIGINT_MIN = -(2**63)
INT_MAX = 2**31 - 1
# two 2 EiB sparse qcow2 images: their over-commit in GB is far below INT's -2^31
EXABYTE_OVERCOMMIT_GB = -(2 * 2**61) // 2**30


@pytest.fixture
def at_previous(db_url):
    """A database at the revision before sizes became BIGINT, with a row in it."""
    database = Database(db_url)
    migrate(database, PREVIOUS)
    with database.engine.begin() as connection:
        connection.execute(
            insert(services).values(
                id=1, host="compute-1", binary="resource-tracker", report_count=3, deleted=0
            )
        )
        connection.execute(
            text(
                "INSERT INTO compute_nodes (id, service_id, uuid, host, deleted, "
                "hypervisor_hostname, vcpus, memory_mb, local_gb, vcpus_used, memory_mb_used, "
                "local_gb_used, hypervisor_type, hypervisor_version, cpu_info, "
                "disk_available_least, free_ram_mb, free_disk_gb, storage_id) VALUES (1, 1, "
                "'uuid-1', 'compute-1', 0, 'Node-1', 64, :int_max, :int_max, 20, 1, 2, 'QEMU', 1, "
                "'{}', -5, 7, 8, 'local:compute-1')"
            ),
            {"int_max": INT_MAX},
        )
    yield database
    database.dispose()


def stored_rows(database) -> list[dict]:
    """compute-1's rows with the columns the database has now (later revisions add some)."""
    with database.engine.connect() as connection:
        nodes = Table("compute_nodes", MetaData(), autoload_with=connection)
        query = select(nodes).where(nodes.c.host == "compute-1").order_by(nodes.c.id)
        return [dict(row) for row in connection.execute(query).mappings()]


def test_0005_widens_the_sizes_and_keeps_the_rows(at_previous):
    before = stored_rows(at_previous)

    assert at_previous.sync_schema() == (PREVIOUS, schema.head())

    assert [{name: row[name] for name in before[0]} for row in stored_rows(at_previous)] == before
    (row,) = at_previous.compute_nodes("compute-1")
    assert (row.uuid, row.memory_mb, row.disk_available_least) == ("uuid-1", INT_MAX, -5)
    # what the row could not hold before: the reconcile writes it, and reads it back
    exabytes = node(
        hypervisor_hostname="Node-1",
        local_gb=2**33,
        local_gb_used=2**32,
        free_disk_gb=2**32,
        disk_available_least=EXABYTE_OVERCOMMIT_GB,
        memory_mb=2**40,
        free_ram_mb=-(2**40),
    )
    assert at_previous.reconcile_compute_nodes("compute-1", [exabytes]).changed is True
    (row,) = at_previous.compute_nodes("compute-1")
    assert (row.id, row.local_gb, row.disk_available_least, row.free_ram_mb) == (
        1,
        2**33,
        EXABYTE_OVERCOMMIT_GB,
        -(2**40),
    )


@pytest.mark.mysql
def test_0005_makes_the_names_binary_on_mysql(mysql_url):
    database = Database(mysql_url)
    database.sync_schema()
    with database.engine.connect() as connection:
        collations = dict(
            connection.execute(
                text(
                    "SELECT CONCAT(table_name, '.', column_name), collation_name "
                    "FROM information_schema.columns WHERE table_schema = DATABASE() "
                    "AND column_name IN ('host', 'hypervisor_hostname', 'binary')"
                )
            ).all()
        )
    database.dispose()

    assert collations == {
        "compute_nodes.host": "utf8mb4_bin",
        "compute_nodes.hypervisor_hostname": "utf8mb4_bin",
        "services.host": "utf8mb4_bin",
        "services.binary": "utf8mb4_bin",
    }


def test_values_beyond_a_column_are_clamped_and_written_once(database):
    absurd = node(vcpus=2**40, disk_available_least=-(2**70), memory_mb=2**64)

    assert database.reconcile_compute_nodes("compute-1", [absurd]).changed is True
    log = StatementLog(database.engine)
    assert database.reconcile_compute_nodes("compute-1", [absurd]).changed is False

    (row,) = database.compute_nodes("compute-1")
    assert (row.vcpus, row.disk_available_least, row.memory_mb) == (
        INT_MAX,
        BIGINT_MIN,
        BIGINT_MAX,
    )
    assert log.count("UPDATE compute_nodes ") == 0  # write-on-change holds for clamped values


def test_a_case_only_rename_always_leaves_one_live_row(database):
    database.reconcile_compute_nodes("compute-1", [node(hypervisor_hostname="Node-1")])

    assert database.reconcile_compute_nodes(
        "compute-1", [node(hypervisor_hostname="node-1")]
    ).changed

    live = database.compute_nodes("compute-1")
    assert [row.hypervisor_hostname for row in live] == ["node-1"]
    assert [
        (row.hypervisor_hostname, row.deleted != 0) for row in all_rows(database, "compute-1")
    ] == [
        ("Node-1", True),
        ("node-1", False),
    ]
    assert (
        database.reconcile_compute_nodes("compute-1", [node(hypervisor_hostname="node-1")]).changed
        is False
    )


@pytest.mark.parametrize("by_hand", [1, -1, 999999])
def test_a_row_an_operator_deleted_by_hand_is_revived(database, by_hand):
    database.reconcile_compute_nodes("compute-0", [node()])  # so that our row's id is not 1
    database.reconcile_compute_nodes("compute-1", [node()])
    (row,) = database.compute_nodes("compute-1")
    with database.engine.begin() as connection:
        connection.execute(
            text("UPDATE compute_nodes SET deleted = :d WHERE host = 'compute-1'"), {"d": by_hand}
        )
    assert database.compute_nodes("compute-1") == []

    assert database.reconcile_compute_nodes("compute-1", [node()]).changed is True

    (revived,) = database.compute_nodes("compute-1")
    assert (revived.id, revived.uuid, revived.deleted) == (row.id, row.uuid, 0)
    assert (
        database.reconcile_compute_nodes("compute-1", [node()]).changed is False
    )  # not "updated"


@pytest.mark.mysql
def test_a_row_changed_between_our_read_and_our_write_is_read_again(mysql_url):
    """An operator's session deletes the row (for real, committed) right after our SELECT:
    our UPDATE then matches nothing, and the transaction runs again instead of reporting
    a change it did not make."""
    database = Database(mysql_url)
    database.sync_schema()
    database.reconcile_compute_nodes("compute-1", [node()])
    operator = Database(mysql_url)
    change_after_select(
        database.engine,
        operator.engine,
        "SELECT compute_nodes.",
        "UPDATE compute_nodes SET deleted = id",
    )

    assert database.reconcile_compute_nodes("compute-1", [node(vcpus_used=33)]).changed is True

    assert database.retries == 1
    (row,) = database.compute_nodes("compute-1")
    assert (row.vcpus_used, row.deleted) == (33, 0)
    operator.dispose()
    database.dispose()


def heartbeats(database: Database) -> int:
    with database.engine.connect() as connection:
        return connection.execute(select(services.c.report_count)).scalar_one()


def test_a_schema_that_moved_on_while_running_is_never_written(database):
    database.check_schema()  # at start-up, as the daemon does
    database.reconcile_compute_nodes("compute-1", [node()])
    with database.engine.begin() as connection:  # a newer release's db sync
        newer_release_synced(connection)

    with pytest.raises(SchemaNotCurrent, match="9999, which this program does not know"):
        database.reconcile_compute_nodes("compute-1", [node(vcpus_used=1)])

    assert heartbeats(database) == 1
    assert database.compute_nodes("compute-1")[0].vcpus_used == 20


def test_the_revision_check_costs_no_statement_of_its_own(database):
    database.reconcile_compute_nodes("compute-1", [node()])
    log = StatementLog(database.engine)

    database.reconcile_compute_nodes("compute-1", [node()])

    heartbeat, select_rows = log.statements  # steady state: two statements, as before
    assert heartbeat.startswith("UPDATE services SET ")
    assert "EXISTS (SELECT * FROM alembic_version WHERE alembic_version.version_num = " in (
        heartbeat
    )
    assert select_rows.startswith("SELECT compute_nodes.")
