"""Devices end to end on libvirt's test driver: host files with PCI PFs and VFs on two NUMA
nodes, IOMMU groups, a vGPU type with mdevs, domains with hostdevs; the audit's tables,
pools and counts, on SQLite and MariaDB; node device XML read only when libvirt says."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import libvirt
import pytest
from sqlalchemy import select

from resource_tracker.audit import device_spec
from resource_tracker.audit.tracker import HostPolicy, ResourceTracker
from resource_tracker.db.models import pci_devices
from resource_tracker.virt.disk import FileStorage
from resource_tracker.virt.libvirt import events
from resource_tracker.virt.libvirt.connection import LibvirtConnection
from resource_tracker.virt.libvirt.device_lister import DeviceLister
from resource_tracker.virt.libvirt.driver import LibvirtDriver
from tests.support import hosts
from tests.support.device_specs import DEVICES_HOST
from tests.support.nodes import StatementLog

SRIOV_VM = "a0000000-0000-4000-8000-000000000001"
OFF_VM = "a0000000-0000-4000-8000-000000000004"
ORPHAN = "6d42f2a2-3d76-426a-a7d5-c8c84f387e23"
DEVICES_IN_HOST_FILE = 14  # 9 PCI functions (1 PF, 3 VFs, 3 NVMe, SATA, GPU), 3 mdevs, 2 netdevs


def pci_xml(bus: int, slot: int = 0, function: int = 0, vendor="0x144d", product="0xa808",
            numa: int = 1, extra: str = "") -> str:  # fmt: skip
    """A node device of the test driver's host file."""
    return (
        f"<device><name>pci_0000_{bus:02x}_{slot:02x}_{function:x}</name><parent>computer"
        f"</parent><capability type='pci'><class>0x010802</class><domain>0</domain>"
        f"<bus>{bus}</bus><slot>{slot}</slot><function>{function}</function>"
        f"<product id='{product}'/><vendor id='{vendor}'/>{extra}<numa node='{numa}'/>"
        "</capability></device>"
    )


def vf_xml(function: int) -> str:
    pf = "<address domain='0x0000' bus='0x81' slot='0x00' function='0x0'/>"
    extra = f"<capability type='phys_function'>{pf}</capability>"
    return pci_xml(0x81, 0x10, function, "0x8086", "0x10ed", extra=extra)


# A host bus adapter and the vHBA template libvirt's test driver copies (it names it
# scsi_host11): node devices of another kind, created and destroyed at run time for events.
SCSI_HOSTS = "".join(
    f"<device><name>scsi_host{n}</name><parent>computer</parent><capability type='scsi_host'>"
    f"<host>{n}</host><unique_id>{n}</unique_id><capability type='fc_host'>"
    f"<wwnn>20000000123412{n:02d}</wwnn><wwpn>10000000123412{n:02d}</wwpn></capability>"
    "<capability type='vport_ops'><max_vports>8</max_vports><vports>0</vports></capability>"
    "</capability></device>"
    for n in (5, 11)
)
VHBA = (
    "<device><parent>scsi_host5</parent><capability type='scsi_host'><capability "
    "type='fc_host'><wwnn>2000000012349999</wwnn><wwpn>1000000012349999</wwpn></capability>"
    "</capability></device>"
)


@pytest.fixture
def event_loop():
    events.start()  # for the rest of this process: libvirt's loop cannot be unregistered


def host_file(directory, extra: str = "") -> str:
    return hosts.render("devices.xml", directory, EXTRA=extra)


@dataclass
class AuditedHost:
    """A tracker and its driver (closed to make the next audit reconnect)."""

    tracker: ResourceTracker
    driver: LibvirtDriver

    def audit(self):
        return self.tracker.audit(HostPolicy())


def tracker_for(uri, directory, database, lister=None, open_connection=libvirt.openReadOnly):
    driver = LibvirtDriver(
        LibvirtConnection(uri, open_connection=open_connection),
        FileStorage(str(directory)),
        devices=lister,
    )
    specs = device_spec.parse(DEVICES_HOST)
    return AuditedHost(ResourceTracker("compute-1", driver, database, device_specs=specs), driver)


def device_rows(database, live_only=True) -> dict:
    table = pci_devices
    query = select(table).where(table.c.deleted == 0) if live_only else select(table)
    with database.engine.connect() as connection:
        return {row["address"]: row for row in connection.execute(query).mappings()}


def pools_of(node) -> list:
    stats = json.loads(node.pci_stats)
    assert stats["nova_object.name"] == "PciDevicePoolList"
    return [
        (p["vendor_id"], p["product_id"], p["numa_node"], p["tags"], p["count"])
        for p in (o["nova_object.data"] for o in stats["nova_object.data"]["objects"])
    ]


def test_a_host_with_passthrough_devices(tmp_path, database):
    tracker = tracker_for(host_file(tmp_path), tmp_path, database)

    result = tracker.audit()
    tracker.driver.close()

    rows = device_rows(database)
    (node,) = database.compute_nodes("compute-1")
    states = {address: (row["status"], row["instance_uuid"]) for address, row in rows.items()}
    assert states == {
        "0000:81:00.0": ("unavailable", None),  # its VF 10.0 is in use
        "0000:81:10.0": ("allocated", SRIOV_VM),  # by <interface type='hostdev'>
        "0000:81:10.2": ("available", None),
        "0000:81:10.4": ("allocated", OFF_VM),  # a shut-off domain keeps it, as in Nova
        "0000:5e:00.0": ("allocated", SRIOV_VM),  # by <hostdev>
        "0000:5f:00.0": ("available", None),
        "0000:d8:00.0": ("available", None),
    }  # neither the SATA controller nor the GPU is offered: no rows
    vf = rows["0000:81:10.2"]
    assert (vf["dev_type"], vf["parent_addr"], vf["numa_node"], vf["compute_node_id"]) == (
        "type-VF",
        "0000:81:00.0",
        1,
        node.id,
    )
    assert (vf["vendor_id"], vf["product_id"], vf["dev_id"], vf["label"]) == (
        "8086",
        "10ed",
        "pci_0000_81_10_2",
        "label_8086_10ed",
    )
    # its interface and its PF's (net_* node devices): see tests/functional/test_nova_devices.py
    assert json.loads(vf["extra_info"]) == {
        "class": "0x020000",
        "iommu_group": "43",
        "parent_ifname": "ens1f0",
        "capabilities": json.dumps(
            {
                "network": ["rx", "tx", "sg"],
                "sriov": {"pf_mac_address": "90:e2:ba:00:00:00", "vf_num": 1},
            }
        ),
    }
    assert rows["0000:81:00.0"]["dev_type"] == "type-PF"
    assert json.loads(rows["0000:81:00.0"]["extra_info"])["mac_address"] == "90:e2:ba:00:00:00"
    nvme = {"dev_type": "type-PCI", "managed": "true"}
    vfs = {"dev_type": "type-VF", "physical_network": "physnet1", "remote_managed": "false"}
    assert pools_of(node) == [
        ("144d", "a808", 0, nvme | {"address": "0000:5f:00.0"}, 1),
        ("144d", "a808", 1, nvme | {"address": "0000:d8:00.0"}, 1),
        ("8086", "10ed", 1, vfs | {"address": "0000:81:00.0", "parent_ifname": "ens1f0"}, 1),
    ]
    assert json.loads(node.mdev_capacity) == [
        {
            "parent": "0000:3b:00.0",
            "type": "nvidia-222",
            "name": "GRID T4-4Q",
            "device_api": "vfio-pci",
            "available_instances": 1,
            "existing": 3,
            "used": 2,
            "orphaned": [ORPHAN],
            "free": 2,
        }
    ]
    assert len(result.devices.states) == 9  # every PCI function, offered or not


def test_device_added_and_removed_between_audits_writes_only_that(tmp_path, database):
    extra_nvme = pci_xml(0xD9, numa=1)
    uri = host_file(tmp_path, extra_nvme)
    tracker = tracker_for(uri, tmp_path, database)
    tracker.audit()
    before = device_rows(database)
    log = StatementLog(database.engine)

    host_file(tmp_path, vf_xml(6))  # d9:00.0 pulled out, VF 81:10.6 enabled
    tracker.driver.close()  # a test driver host is read when connecting: reconnect
    changed = tracker.audit().changed
    unchanged = tracker.audit().changed
    tracker.driver.close()

    after = device_rows(database)
    assert changed and not unchanged
    assert set(after) - set(before) == {"0000:81:10.6"}
    assert set(before) - set(after) == {"0000:d9:00.0"}
    for address in set(before) & set(after):
        assert after[address]["id"] == before[address]["id"]
        assert after[address]["updated_at"] is None, address  # not written
    assert log.count("INSERT INTO pci_devices") == 1
    (delete,) = [s for s in log.statements if s.startswith("UPDATE pci_devices")]
    assert "deleted=" in delete.replace(" ", "")
    (update,) = [s for s in log.statements if s.startswith("UPDATE compute_nodes")]
    assert "pci_stats" in update and "vcpus" not in update
    gone = device_rows(database, live_only=False)
    assert [row["status"] for row in gone.values() if row["deleted"]] == ["deleted"]


def test_an_idle_host_reads_no_device_xml_after_the_first_audit(tmp_path, database, event_loop):
    tracker = tracker_for(host_file(tmp_path), tmp_path, database)

    reads = [tracker.audit().resources.devices.xml_reads for _ in range(4)]
    tracker.driver.close()

    assert reads == [DEVICES_IN_HOST_FILE, 0, 0, 0]


def test_an_event_reads_only_the_device_it_names(tmp_path, database, event_loop):
    # read-write, so this test can make devices on the very connection the driver audits
    tracker = tracker_for(
        host_file(tmp_path, SCSI_HOSTS), tmp_path, database, open_connection=libvirt.open
    )
    first = tracker.audit()
    conn = tracker.driver._connection.get()

    vhba = conn.nodeDeviceCreateXML(VHBA, 0)
    created = wait_for_reads(tracker, 1)
    vhba.destroy()
    destroyed = wait_for_reads(tracker, 0, audits=2)
    tracker.driver.close()

    assert first.resources.devices.xml_reads == DEVICES_IN_HOST_FILE
    # the vHBA's event: one lookup, one XMLDesc (no PCI function, no mdev: not kept)
    assert created.resources.devices.xml_reads == 1
    for kept in ("pci", "mdev_types", "mdevs"):
        assert getattr(created.resources.devices, kept) == getattr(first.resources.devices, kept)
    # its removal: looked up, gone, nothing to read
    assert destroyed.resources.devices.xml_reads == 0


def wait_for_reads(tracker, expected: int, audits: int = 20):
    """Audit until `expected` device XML reads (events arrive from libvirt's loop thread)."""
    for _ in range(audits):
        result = tracker.audit()
        if result.resources.devices.xml_reads == expected:
            return result
    return result


def test_without_events_every_audit_reads_every_device(tmp_path, database):
    lister = DeviceLister(use_events=False)
    tracker = tracker_for(host_file(tmp_path), tmp_path, database, lister)

    results = [tracker.audit() for _ in range(3)]
    tracker.driver.close()

    assert [r.resources.devices.xml_reads for r in results] == [DEVICES_IN_HOST_FILE] * 3
    assert [r.changed for r in results] == [True, False, False]


def test_odd_ids_cost_that_device_only(tmp_path, database, caplog):
    odd = pci_xml(0x99, vendor="0x1ffff") + pci_xml(0x9A, slot=40)  # libvirt takes both
    tracker = tracker_for(host_file(tmp_path, odd), tmp_path, database)

    with caplog.at_level(logging.WARNING):
        first = tracker.audit()
        tracker.audit()
    tracker.driver.close()

    addresses = {s.device.address for s in first.devices.states}
    assert len(addresses) == 9 and not {a for a in addresses if a.startswith("0000:9")}
    warnings = sorted(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert warnings == [
        "node device pci_0000_99_00_0 is left out: vendor id '0x1ffff' is out of range",
        "node device pci_0000_9a_28_0 is left out: PCI slot '40' is out of range",
    ]  # said once, not every audit
