"""pci_devices on SQLite and MariaDB: write-on-change in the node's transaction under the
reconcile's rules (rowcount checks, clamping), soft delete, and migration 0006 up from 0005
with rows in place."""

from __future__ import annotations

import dataclasses
import json

import pytest
from alembic import command
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import Integer, MetaData, Table, inspect, select, text

from resource_tracker.db import schema
from resource_tracker.db.api import Database
from resource_tracker.db.models import compute_nodes, pci_devices
from resource_tracker.exception import ResourceTrackerError, SchemaNotCurrent
from resource_tracker.resources import PciDeviceValues
from tests.functional.db.test_schema import SHIPPED, insert_shipped_rows, migrate
from tests.support.nodes import StatementLog, change_after_select, node
from tests.support.schema import newer_release_synced

PREVIOUS = "0005"
VF = PciDeviceValues(
    address="0000:81:10.2",
    vendor_id="8086",
    product_id="10ed",
    dev_type="type-VF",
    dev_id="pci_0000_81_10_2",
    label="label_8086_10ed",
    status="available",
    instance_uuid=None,
    numa_node=1,
    parent_addr="0000:81:00.0",
    extra_info='{"class": "0x020000", "iommu_group": "42"}',
)
PF = dataclasses.replace(
    VF,
    address="0000:81:00.0",
    product_id="10fb",
    dev_type="type-PF",
    dev_id="pci_0000_81_00_0",
    label="label_8086_10fb",
    parent_addr=None,
    extra_info="{}",
)
NVME = dataclasses.replace(
    VF,
    address="0000:5e:00.0",
    vendor_id="144d",
    product_id="a808",
    dev_type="type-PCI",
    dev_id="pci_0000_5e_00_0",
    label="label_144d_a808",
    numa_node=0,
    parent_addr=None,
    extra_info="{}",
)


def reconcile(database, *devices, **node_changes) -> bool:
    return database.reconcile_compute_nodes(
        "compute-1", [node(**node_changes)], devices={"node-1": list(devices)}
    ).changed


def device_rows(database) -> list:
    with database.engine.connect() as connection:
        table = pci_devices
        return list(connection.execute(select(table).order_by(table.c.id)).mappings())


def test_devices_are_inserted_with_the_node_they_belong_to(database):
    assert reconcile(database, VF, PF) is True

    (compute_node,) = database.compute_nodes("compute-1")
    rows = device_rows(database)
    assert [row["address"] for row in rows] == ["0000:81:10.2", "0000:81:00.0"]
    for row, values in zip(rows, (VF, PF), strict=True):
        assert {k: row[k] for k in dataclasses.asdict(values)} == dataclasses.asdict(values)
        assert (row["compute_node_id"], row["deleted"], len(row["uuid"])) == (
            compute_node.id,
            0,
            36,
        )
        assert row["created_at"] is not None and row["request_id"] is None


def test_nothing_changed_writes_nothing(database):
    reconcile(database, VF, PF, NVME)
    log = StatementLog(database.engine)

    assert [reconcile(database, NVME, PF, VF) for _ in range(3)] == [False, False, False]

    assert log.count("INSERT INTO pci_devices") == 0
    assert log.count("UPDATE pci_devices") == 0
    assert log.count("SELECT") == 6  # the node's row, its devices; nothing more


def test_a_change_writes_only_that_device_and_column(database):
    reconcile(database, VF, PF, NVME)
    (before,) = [row for row in device_rows(database) if row["address"] == VF.address]
    log = StatementLog(database.engine)
    owner = "a0000000-0000-4000-8000-000000000001"
    allocated = dataclasses.replace(VF, status="allocated", instance_uuid=owner)

    assert reconcile(database, allocated, PF, NVME) is True

    (update,) = [s for s in log.statements if s.startswith("UPDATE pci_devices")]
    assert "status=" in update and "instance_uuid=" in update and "vendor_id=" not in update
    (after,) = [row for row in device_rows(database) if row["address"] == VF.address]
    assert (after["id"], after["uuid"], after["status"], after["instance_uuid"]) == (
        before["id"],
        before["uuid"],
        "allocated",
        owner,
    )
    assert log.count("UPDATE compute_nodes") == 0


def test_a_device_gone_is_soft_deleted_and_one_back_gets_a_new_row(database):
    reconcile(database, VF, PF)
    (vf_row, _pf_row) = device_rows(database)

    reconcile(database, PF)
    reconcile(database, VF, PF)

    rows = device_rows(database)
    gone = rows[0]
    assert (gone["id"], gone["deleted"], gone["status"]) == (vf_row["id"], vf_row["id"], "deleted")
    assert gone["deleted_at"] is not None
    back = rows[-1]
    assert (back["address"], back["deleted"], back["status"]) == (VF.address, 0, "available")
    assert len([row for row in rows if row["deleted"] == 0]) == 2


def test_each_node_has_its_devices_and_its_pools(database):
    stats = '{"nova_object.name": "PciDevicePoolList"}'
    second = node(hypervisor_hostname="node-2", pci_stats=stats, mdev_capacity="[]")

    database.reconcile_compute_nodes(
        "compute-1", [node(), second], devices={"node-1": [VF], "node-2": [VF, PF]}
    )

    nodes = {n.hypervisor_hostname: n for n in database.compute_nodes("compute-1")}
    assert (nodes["node-1"].pci_stats, nodes["node-2"].pci_stats) == (None, stats)
    assert nodes["node-2"].mdev_capacity == "[]"
    owners = [(row["compute_node_id"], row["address"]) for row in device_rows(database)]
    one, two = nodes["node-1"].id, nodes["node-2"].id
    assert sorted(owners) == sorted([(one, VF.address), (two, VF.address), (two, PF.address)])


def test_a_node_without_devices_reported_keeps_its_rows(database):
    reconcile(database, VF)

    database.reconcile_compute_nodes("compute-1", [node()])  # devices unknown: left alone

    assert [row["deleted"] for row in device_rows(database)] == [0]


def test_a_numa_node_beyond_the_column_is_clamped_and_written_once(database):
    absurd = dataclasses.replace(VF, numa_node=2**40)

    assert reconcile(database, absurd) is True
    log = StatementLog(database.engine)
    assert reconcile(database, absurd) is False

    assert [row["numa_node"] for row in device_rows(database)] == [2**31 - 1]
    assert log.count("UPDATE pci_devices") == 0  # write-on-change holds for clamped values


@pytest.mark.mysql
def test_a_device_changed_between_our_read_and_our_write_is_read_again(mysql_url):
    """An operator's session soft-deletes the device rows right after our SELECT of them:
    our UPDATE then matches nothing, and the transaction runs again."""
    database = Database(mysql_url)
    database.sync_schema()
    reconcile(database, VF, PF)
    operator = Database(mysql_url)
    change_after_select(
        database.engine,
        operator.engine,
        "SELECT pci_devices.",
        "UPDATE pci_devices SET deleted = id",
    )
    allocated = dataclasses.replace(VF, status="allocated", instance_uuid="a0000000-0000-4000")

    assert reconcile(database, allocated, PF) is True

    assert database.retries == 1
    live = [row for row in device_rows(database) if row["deleted"] == 0]
    assert [(row["address"], row["status"]) for row in live] == [
        (VF.address, "allocated"),
        (PF.address, "available"),
    ]  # written anew: the rows the operator deleted stay deleted
    operator.dispose()
    database.dispose()


def test_a_schema_that_moved_on_gets_no_device_row(database):
    database.check_schema()
    reconcile(database, VF)
    with database.engine.begin() as connection:  # a newer release's db sync
        newer_release_synced(connection)

    with pytest.raises(SchemaNotCurrent, match="9999"):
        reconcile(database, VF, PF)

    assert [row["address"] for row in device_rows(database)] == [VF.address]


# what revisions 0003 to 0005 added, in a row written before 0006: the host's shape, shared
# storage, a size beyond INT
PREVIOUS_ERA = (
    "UPDATE compute_nodes SET numa_topology = '{\"cells\": []}', "
    "stats = '{\"num_instances\": 2}', host_ip = '192.0.2.5', pcpus = 4, "
    "storage_id = 'nfs:fs1:/nova', "
    "disk_overcommit_bytes = 5000000000000, memory_mb = 4294967296 WHERE id = 1"
)


def stored_rows(database, table: str) -> list[dict]:
    """Every row of `table` with the columns the database has now, by id."""
    with database.engine.connect() as connection:
        reflected = Table(table, MetaData(), autoload_with=connection)
        query = select(reflected).order_by(reflected.c.id)
        return [dict(row) for row in connection.execute(query).mappings()]


def test_migration_from_the_previous_revision_keeps_the_rows(db_url):
    database = Database(db_url)
    try:
        migrate(database, SHIPPED)
        insert_shipped_rows(database)
        migrate(database, PREVIOUS)
        with database.engine.begin() as connection:
            connection.execute(text(PREVIOUS_ERA))
        before = stored_rows(database, "compute_nodes")
        pools_before = [dict(p) for p in database.storage_pools()]

        assert database.sync_schema() == (PREVIOUS, schema.head())

        after = stored_rows(database, "compute_nodes")
        assert [{name: row[name] for name in before[0]} for row in after] == before
        assert before[0]["memory_mb"] == 2**32 and before[0]["storage_id"] == "nfs:fs1:/nova"
        assert [(row["pci_stats"], row["mdev_capacity"]) for row in after] == [(None, None)] * 2
        assert [dict(p) for p in database.storage_pools()] == pools_before  # the view works
        assert "pci_devices" in inspect(database.engine).get_table_names()
        stats = json.dumps({"nova_object.name": "PciDevicePoolList"})
        assert reconcile(database, VF, PF, pci_stats=stats) is True
        (row,) = database.compute_nodes("compute-1")
        assert (row.id, row.uuid, row.pci_stats) == (1, "uuid-1", stats)
        assert {r["compute_node_id"] for r in device_rows(database)} == {1}
    finally:
        database.dispose()


def test_a_later_migration_that_copies_compute_nodes_keeps_the_devices(database):
    reconcile(database, VF, PF)
    before = stored_rows(database, "pci_devices")

    # what a future revision changing a column does, inside db sync's transaction (SQLite
    # copies the table, drops the old one, which pci_devices rows point at, and renames)
    with (
        database.engine.connect() as connection,
        schema.tables_kept_linked(connection),
        schema.views_kept_working(connection),
    ):
        operations = Operations(MigrationContext.configure(connection))
        with operations.batch_alter_table("compute_nodes") as batch:
            batch.alter_column("running_vms", existing_type=Integer, nullable=True)

    assert stored_rows(database, "pci_devices") == before
    assert reconcile(database, VF) is True  # and the reconcile goes on: PF soft-deleted
    if database.engine.dialect.name == "sqlite":
        with database.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1  # on again


def test_a_schema_change_leaving_devices_without_their_node_is_rolled_back(sqlite_url):
    # SQLite only: MariaDB checks foreign keys at every statement, schema changes too
    database = Database(sqlite_url)
    database.sync_schema()
    reconcile(database, VF)

    with (
        pytest.raises(ResourceTrackerError, match=r"1 row\(s\) pointing at rows that are gone"),
        database.engine.connect() as connection,
        schema.tables_kept_linked(connection),
    ):
        connection.exec_driver_sql("DELETE FROM compute_nodes")

    assert [n.hypervisor_hostname for n in database.compute_nodes("compute-1")] == ["node-1"]
    database.dispose()


def test_migration_down_and_up_again(db_url):
    database = Database(db_url)
    try:
        database.sync_schema()
        reconcile(database, VF)
        # as db sync changes a schema (later revisions copy compute_nodes on SQLite)
        with database.engine.connect() as connection, schema.tables_kept_linked(connection):
            command.downgrade(schema.alembic_config(connection), PREVIOUS)
        assert "pci_devices" not in inspect(database.engine).get_table_names()
        columns = {c["name"] for c in inspect(database.engine).get_columns("compute_nodes")}
        assert "pci_stats" not in columns and "hypervisor_hostname" in columns

        assert database.sync_schema() == (PREVIOUS, schema.head())
        with database.engine.connect() as connection:
            assert connection.execute(select(compute_nodes.c.id)).all() != []
    finally:
        database.dispose()
