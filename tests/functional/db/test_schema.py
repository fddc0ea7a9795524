"""db sync and db version on SQLite and MariaDB: empty, one revision behind, made before
migrations (main's create_all), ahead; and the check the daemon makes at start-up."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import insert, inspect, select, text
from sqlalchemy.exc import IntegrityError

from resource_tracker.db import schema
from resource_tracker.db.api import Database
from resource_tracker.db.models import compute_nodes, metadata, services
from resource_tracker.exception import SchemaNotCurrent
from tests.functional.test_cli import run
from tests.support.nodes import NODE, node
from tests.support.schema import newer_release_synced

HEAD = "0008"
SHIPPED = "0001"


@pytest.fixture
def empty(db_url):
    database = Database(db_url)
    yield database
    database.dispose()


def migrate(database: Database, revision: str) -> None:
    with database.engine.begin() as connection:
        command.upgrade(schema.alembic_config(connection), revision)


def insert_shipped_rows(database: Database, names=("node-1", None)) -> None:
    """Rows as main's tracker wrote them, and one with a NULL name that 0001 allowed."""
    with database.engine.begin() as connection:
        connection.execute(
            insert(services).values(
                id=1,
                host="compute-1",
                binary="resource-tracker",
                report_count=7,
                disabled=False,
                deleted=0,
            )
        )
        for id_, name in enumerate(names, start=1):
            connection.execute(
                text(
                    "INSERT INTO compute_nodes (id, service_id, uuid, host, deleted, "
                    "hypervisor_hostname, vcpus, memory_mb, local_gb, vcpus_used, "
                    "memory_mb_used, local_gb_used, hypervisor_type, hypervisor_version, "
                    "cpu_info) VALUES (:id, 1, :uuid, 'compute-1', 0, :name, :vcpus, 1, 1, "
                    "1, 1, 1, 'QEMU', 1, '{}')"
                ),
                {"id": id_, "uuid": f"uuid-{id_}", "name": name, "vcpus": NODE.vcpus},
            )


def rows(database: Database) -> list:
    with database.engine.connect() as connection:
        table = compute_nodes
        query = select(table.c.id, table.c.uuid, table.c.hypervisor_hostname, table.c.deleted)
        return list(connection.execute(query.order_by(table.c.id)))


def test_sync_creates_the_schema_of_an_empty_database(empty):
    assert empty.sync_schema() == (None, HEAD)

    assert empty.schema_revision() == HEAD
    empty.check_schema()
    assert {"compute_nodes", "services", "alembic_version"} <= set(
        inspect(empty.engine).get_table_names()
    )
    assert empty.sync_schema() == (HEAD, HEAD)  # again: nothing to do


def test_the_migrations_build_exactly_what_the_models_describe(empty):
    empty.sync_schema()

    with empty.engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"version_table": schema.REVISION_TABLE, "include_name": schema.not_the_writers},
        )
        assert compare_metadata(context, metadata) == []


def test_sync_upgrades_a_database_one_revision_behind_and_keeps_its_rows(empty):
    migrate(empty, SHIPPED)
    insert_shipped_rows(empty)

    assert empty.sync_schema() == (SHIPPED, HEAD)

    # the named row is untouched; the unnamed one is named after its host and soft-deleted
    assert rows(empty) == [(1, "uuid-1", "node-1", 0), (2, "uuid-2", "compute-1", 2)]
    assert not inspect_column(empty, "hypervisor_hostname")["nullable"]
    with pytest.raises(IntegrityError), empty.engine.begin() as connection:
        connection.execute(text("UPDATE compute_nodes SET hypervisor_hostname = NULL"))


def test_upgrade_to_the_host_shape_keeps_rows_and_the_next_audit_fills_them(empty):
    migrate(empty, "0002")
    insert_shipped_rows(empty, names=("node-1", "node-2"))
    before = rows(empty)

    migrate(empty, "0003")

    assert rows(empty) == before
    with empty.engine.connect() as connection:
        (shape,) = connection.execute(
            text(
                "SELECT numa_topology, supported_instances, stats, host_ip, pcpus, pcpus_used, "
                "vcpus, cpu_info FROM compute_nodes WHERE id = 1"
            )
        )
    assert tuple(shape) == (None, None, None, None, None, None, NODE.vcpus, "{}")
    empty.sync_schema()  # a reconcile writes only into the schema this program knows
    big_topology = '{"cells": "' + "x" * 70000 + '"}'  # beyond TEXT's 64 KiB on MySQL
    empty.sync_schema()  # the revisions after 0003 too, which the tracker needs
    empty.reconcile_compute_nodes(
        "compute-1",
        [node(numa_topology=big_topology, stats='{"num_instances": 1}', pcpus=4, pcpus_used=1)],
    )
    (live,) = empty.compute_nodes("compute-1")
    assert (live.uuid, live.numa_topology, live.pcpus, live.pcpus_used) == (
        "uuid-1",
        big_topology,
        4,
        1,
    )


def test_sync_adopts_a_database_made_before_migrations(empty):
    # 0001 is what main's create_all made (compared with alembic's compare_metadata when 0001
    # was written); without alembic_version it is the database an operator has today
    migrate(empty, SHIPPED)
    insert_shipped_rows(empty)
    with empty.engine.begin() as connection:
        connection.execute(text(f"DROP TABLE {schema.REVISION_TABLE}"))
    with pytest.raises(SchemaNotCurrent, match="db sync"):
        empty.check_schema()

    assert empty.sync_schema() == (SHIPPED, HEAD)

    assert empty.schema_revision() == HEAD
    assert [row.uuid for row in rows(empty)] == ["uuid-1", "uuid-2"]
    empty.reconcile_compute_nodes("compute-1", [node()])
    assert [n.uuid for n in empty.compute_nodes("compute-1")] == ["uuid-1"]


def test_sync_refuses_half_a_schema_it_did_not_make(empty):
    with empty.engine.begin() as connection:
        services.create(connection)

    with pytest.raises(SchemaNotCurrent, match="has services but not compute_nodes"):
        empty.sync_schema()


def test_a_database_behind_is_refused_with_the_command_that_fixes_it(empty):
    with pytest.raises(SchemaNotCurrent, match=r"no resource-tracker schema.*run: resource-tr"):
        empty.check_schema()
    migrate(empty, SHIPPED)

    with pytest.raises(SchemaNotCurrent) as raised:
        empty.check_schema()
    with pytest.raises(SchemaNotCurrent):
        empty.reconcile_compute_nodes("compute-1", [node()])  # nothing written

    assert str(raised.value).endswith(
        f"is at schema revision {SHIPPED}, this program needs {HEAD}; "
        "run: resource-tracker-manage db sync"
    )
    assert "\n" not in str(raised.value)
    assert rows(empty) == []


def test_a_database_ahead_of_this_program_is_refused(empty):
    empty.sync_schema()
    with empty.engine.begin() as connection:
        newer_release_synced(connection, "0099")

    with pytest.raises(SchemaNotCurrent, match="revision 0099, which this program does not k"):
        empty.check_schema()
    with pytest.raises(SchemaNotCurrent, match="upgrade this one"):
        empty.sync_schema()


def inspect_column(database: Database, name: str) -> dict:
    columns = inspect(database.engine).get_columns("compute_nodes")
    return next(column for column in columns if column["name"] == name)


def test_db_sync_and_db_version_commands(tmp_path, db_url):
    conf = tmp_path / "rt.conf"
    conf.write_text(f"[DEFAULT]\nhost = compute-1\n[database]\nconnection = {db_url}\n")

    before = run("resource-tracker-manage", "--config-file", str(conf), "db", "version")
    sync = run("resource-tracker-manage", "--config-file", str(conf), "db", "sync")
    again = run("resource-tracker-manage", "--config-file", str(conf), "db", "sync")
    after = run("resource-tracker-manage", "--config-file", str(conf), "db", "version")

    assert (before.returncode, before.stdout) == (0, "none\n")
    assert sync.returncode == 0 and sync.stdout.endswith(f"upgraded from nothing to {HEAD}\n")
    assert again.stdout.endswith(f"is current: revision {HEAD}\n")
    assert (after.returncode, after.stdout) == (0, f"{HEAD}\n")


def test_once_refuses_a_database_behind_with_one_line(tmp_path, empty):
    # the daemon waits instead: tests/functional/test_upgrade.py
    migrate(empty, SHIPPED)
    conf = tmp_path / "rt.conf"
    conf.write_text(
        f"[DEFAULT]\nhost = compute-1\ninstances_path = {tmp_path}\n"
        f"[libvirt]\nconnection_uri = test:///default\n"
        f"[database]\nconnection = {empty.url}\n"
    )

    result = run("resource-tracker", "--config-file", str(conf), "--once")

    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.endswith("run: resource-tracker-manage db sync\n")
