"""pci_devices on SQLite and MariaDB: write-on-change in the node's transaction, soft delete,
and migration 0003 up from 0002 with rows in place."""

from __future__ import annotations

import dataclasses
import json

from alembic import command
from sqlalchemy import inspect, select

from resource_tracker.db import schema
from resource_tracker.db.api import Database
from resource_tracker.db.models import ComputeNode, PciDevice
from resource_tracker.resources import PciDeviceValues
from tests.functional.db.test_schema import SHIPPED, insert_shipped_rows, migrate, rows
from tests.support.nodes import StatementLog, node

PREVIOUS = "0002"
THIS = "0003"
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
        "compute-1", [node(**node_changes)], {"node-1": list(devices)}
    )


def device_rows(database) -> list:
    with database.engine.connect() as connection:
        table = PciDevice.__table__
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
        "compute-1", [node(), second], {"node-1": [VF], "node-2": [VF, PF]}
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


def test_migration_from_the_previous_revision_keeps_the_rows(db_url):
    database = Database(db_url)
    try:
        migrate(database, SHIPPED)
        insert_shipped_rows(database)
        migrate(database, PREVIOUS)
        before = rows(database)

        assert database.sync_schema() == (PREVIOUS, THIS)

        assert rows(database) == before
        for row in database.compute_nodes("compute-1", include_deleted=True):
            assert (row.pci_stats, row.mdev_capacity) == (None, None)
        assert "pci_devices" in inspect(database.engine).get_table_names()
        stats = json.dumps({"nova_object.name": "PciDevicePoolList"})
        assert reconcile(database, VF, PF, pci_stats=stats) is True
        (row,) = database.compute_nodes("compute-1")
        assert (row.id, row.uuid, row.pci_stats) == (1, "uuid-1", stats)
        assert {r["compute_node_id"] for r in device_rows(database)} == {1}
    finally:
        database.dispose()


def test_migration_down_and_up_again(db_url):
    database = Database(db_url)
    try:
        database.sync_schema()
        reconcile(database, VF)
        with database.engine.begin() as connection:
            command.downgrade(schema.alembic_config(connection), PREVIOUS)
        assert "pci_devices" not in inspect(database.engine).get_table_names()
        columns = {c["name"] for c in inspect(database.engine).get_columns("compute_nodes")}
        assert "pci_stats" not in columns and "hypervisor_hostname" in columns

        assert database.sync_schema() == (PREVIOUS, THIS)
        with database.engine.connect() as connection:
            assert connection.execute(select(ComputeNode.__table__.c.id)).all() != []
    finally:
        database.dispose()
