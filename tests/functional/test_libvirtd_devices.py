"""Devices on a real libvirtd: its PCI devices are this machine's, field for field as sysfs
has them; a domain's <hostdev> as libvirt writes it back; no device XML read when idle."""

from __future__ import annotations

import glob
import os

import pytest

from resource_tracker.audit import device_spec
from resource_tracker.audit.tracker import ResourceTracker
from resource_tracker.db.api import Database
from resource_tracker.virt.disk import FileStorage
from resource_tracker.virt.libvirt import events
from resource_tracker.virt.libvirt.connection import LibvirtConnection
from resource_tracker.virt.libvirt.driver import LibvirtDriver
from tests.functional.test_devices import AuditedHost
from tests.support.libvirtd import domain_xml

pytestmark = pytest.mark.libvirtd

SYSFS = "/sys/bus/pci/devices"


def sysfs_devices() -> dict:
    """What the kernel says of each PCI function, in our records' terms."""
    found = {}
    for path in sorted(glob.glob(f"{SYSFS}/*")):

        def read(name, path=path):
            try:
                with open(os.path.join(path, name)) as value:
                    return value.read().strip()
            except FileNotFoundError:
                return None

        numa = read("numa_node")
        group = os.path.join(path, "iommu_group")
        physfn = os.path.join(path, "physfn")
        found[os.path.basename(path)] = {
            "vendor_id": read("vendor")[2:],
            "product_id": read("device")[2:],
            "class_id": read("class"),
            "numa_node": None if numa in (None, "-1") else int(numa),
            "iommu_group": int(os.path.basename(os.readlink(group)))
            if os.path.exists(group)
            else None,
            "dev_type": "type-VF"
            if os.path.exists(physfn)
            else "type-PF"
            if int(read("sriov_totalvfs") or 0) > 0
            else "type-PCI",
        }
    return found


@pytest.fixture
def tracker(libvirtd, sqlite_url):
    database = Database(sqlite_url)
    database.sync_schema()
    driver = LibvirtDriver(LibvirtConnection(libvirtd.uri), FileStorage(str(libvirtd.images)))
    vendor = next(iter(sysfs_devices().values()))["vendor_id"]  # offers the first device
    specs = device_spec.parse([f'{{"vendor_id": "{vendor}"}}'])
    yield AuditedHost(ResourceTracker("compute-1", driver, database, device_specs=specs), driver)
    driver.close()
    database.dispose()


def test_the_pci_devices_of_this_machine_with_sysfs_fields(tracker):
    expected = sysfs_devices()
    assert expected, "no PCI devices in sysfs"

    devices = tracker.audit().resources.devices

    listed = {device.address: device for device in devices.pci}
    assert set(listed) == set(expected)
    for address, fields in expected.items():
        device = listed[address]
        got = {name: getattr(device, name) for name in fields}
        assert got == fields, address
        assert device.name == "pci_" + address.replace(":", "_").replace(".", "_")


def test_a_shut_off_domain_keeps_its_hostdev_allocated_as_in_nova(libvirtd, tracker):
    address = next(iter(sysfs_devices()))
    domain, bus, rest = address.split(":")
    slot, function = rest.split(".")
    hostdev = (
        "<hostdev mode='subsystem' type='pci' managed='yes'><source>"
        f"<address domain='0x{domain}' bus='0x{bus}' slot='0x{slot}' function='0x{function}'/>"
        "</source></hostdev>"
    )
    xml = domain_xml("passthrough", []).replace("<memballoon", hostdev + "<memballoon")
    conn = libvirtd.connect()
    defined = conn.defineXML(xml)
    try:
        result = tracker.audit()
    finally:
        defined.undefine()
        conn.close()

    (state,) = [s for s in result.devices.states if s.device.address == address]
    assert (state.status, state.instance_uuid) == ("allocated", defined.UUIDString())
    (row,) = [r for r in result.devices.offered if r.device.address == address]
    assert row.spec is not None


def test_an_idle_real_host_reads_no_device_xml_after_the_first_audit(tracker):
    events.start()  # for the rest of this process: libvirt's loop cannot be unregistered
    tracker.driver.close()  # the next connection subscribes to node device events

    reads = [tracker.audit().resources.devices.xml_reads for _ in range(4)]

    # every PCI function and every network interface (libvirt's net_* node devices)
    assert reads[0] == len(sysfs_devices()) + len(os.listdir("/sys/class/net"))
    assert reads[1:] == [0, 0, 0]
