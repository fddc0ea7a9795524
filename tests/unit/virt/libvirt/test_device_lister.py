"""DeviceLister on libvirt's test driver: what an event makes it read, and what a failed
read keeps. Events are marked in the change log as libvirt's callback marks them
(test_devices.py shows a real event from the test driver reaching it)."""

from __future__ import annotations

import logging

import libvirt
import pytest

from resource_tracker.virt.disk import FileStorage
from resource_tracker.virt.libvirt import events
from resource_tracker.virt.libvirt.connection import LibvirtConnection
from resource_tracker.virt.libvirt.device_lister import DeviceLister
from resource_tracker.virt.libvirt.driver import LibvirtDriver
from tests.support import hosts
from tests.support.waiting import wait_for

MDEV = "mdev_4b20d080_1b54_4048_85b3_a6a62d165c01"
GPU = "pci_0000_3b_00_0"


@pytest.fixture
def conn(tmp_path):
    events.start()  # for the rest of this process: libvirt's loop cannot be unregistered
    conn = libvirt.openReadOnly(hosts.render("devices.xml", tmp_path, EXTRA=""))
    yield conn
    conn.close()


class Reads:
    """The connection, recording which devices' XML is read, failing those named in `broken`."""

    def __init__(self, conn):
        self._conn = conn
        self.read: list[str] = []
        self.broken: set[str] = set()

    def listAllDevices(self, flags):
        return [_Device(dev, self) for dev in self._conn.listAllDevices(flags)]

    def nodeDeviceLookupByName(self, name):
        return _Device(self._conn.nodeDeviceLookupByName(name), self)

    def __getattr__(self, name):
        return getattr(self._conn, name)


class _Device:
    def __init__(self, dev, reads: Reads):
        self._dev, self._reads = dev, reads

    def name(self):
        return self._dev.name()

    def XMLDesc(self, flags):
        self._reads.read.append(self._dev.name())
        if self._dev.name() in self._reads.broken:
            raise _error(libvirt.VIR_ERR_INTERNAL_ERROR, "Unable to read from monitor")
        return self._dev.XMLDesc(flags)


def _error(code: int, message: str) -> libvirt.libvirtError:
    error = libvirt.libvirtError(message)
    error.err = (code, 0, message, 0, "", None, None, 0, 0)
    return error


def test_an_event_about_an_mdev_reads_it_and_every_device_with_mdev_types(conn):
    reads, lister = Reads(conn), DeviceLister()
    lister.list(reads)
    reads.read.clear()

    lister._feed.changes.mark(MDEV)  # what the callback of a node device event does
    found = lister.list(reads)

    assert sorted(reads.read) == [MDEV, GPU]
    assert found.xml_reads == 2
    assert lister.list(reads).xml_reads == 0  # and then nothing more


def test_an_event_about_a_vf_reads_its_pf_too(conn):
    reads, lister = Reads(conn), DeviceLister()
    lister.list(reads)
    reads.read.clear()

    lister._feed.changes.mark("pci_0000_81_10_2")
    lister.list(reads)

    assert sorted(reads.read) == ["pci_0000_81_00_0", "pci_0000_81_10_2"]


def test_an_event_about_a_device_gone_drops_it_without_reading(conn):
    reads, lister = Reads(conn), DeviceLister()
    lister.list(reads)
    reads.read.clear()

    lister._feed.changes.mark("pci_0000_ff_00_0")  # no such device (any more)
    found = lister.list(reads)

    assert reads.read == [] and found.xml_reads == 0
    assert len(found.pci) == 9


def test_a_device_that_cannot_be_read_is_kept_as_last_read_and_read_again(conn, caplog):
    reads, lister = Reads(conn), DeviceLister()
    first = lister.list(reads)
    reads.broken.add(GPU)

    lister._feed.changes.mark(GPU)
    with caplog.at_level(logging.WARNING):
        failed = lister.list(reads)
    reads.broken.clear()
    reads.read.clear()
    again = lister.list(reads)

    assert failed.pci == first.pci and failed.mdev_types == first.mdev_types  # unknown: kept
    assert [r.getMessage() for r in caplog.records] == [
        f"cannot read node device {GPU} (Unable to read from monitor); kept as last read"
    ]
    assert reads.read == [GPU]  # tried again at the next audit, unasked
    assert again.mdev_types == first.mdev_types


def test_without_events_a_device_that_cannot_be_read_is_kept_too(conn):
    reads, lister = Reads(conn), DeviceLister(use_events=False)
    first = lister.list(reads)
    reads.broken.add(GPU)

    second = lister.list(reads)

    assert second.mdev_types == first.mdev_types and second.xml_reads == 14


def test_a_new_connection_reads_everything_again(conn, tmp_path):
    lister = DeviceLister()
    lister.list(conn)
    other = libvirt.openReadOnly(hosts.render("devices.xml", tmp_path, EXTRA=""))
    try:
        assert lister.list(other).xml_reads == 14
        assert lister.list(other).xml_reads == 0
    finally:
        other.close()


def test_driver_close_leaves_no_connection_open(tmp_path):
    """A subscription still registered would keep a closed connection (and its socket) open:
    test:///default is reset only when its last connection closes."""
    events.start()
    driver = LibvirtDriver(LibvirtConnection("test:///default"), FileStorage(str(tmp_path)))
    driver.get_host_resources()  # subscribes to node device events
    rw = libvirt.open("test:///default")
    rw.nodeDeviceCreateXML(VHBA, 0)
    rw.close()

    driver.close()

    # every connection was closed: the host was reset. libvirt's event thread may still be
    # dispatching an event to the subscription when it is cancelled, and then drops the
    # subscription's reference to the connection (the last one) just after: so not at once
    assert wait_for(_reset_default_host, timeout_s=10)


def _reset_default_host() -> bool:
    conn = libvirt.openReadOnly("test:///default")
    try:
        return "scsi_host12" not in {dev.name() for dev in conn.listAllDevices(0)}
    finally:
        conn.close()


VHBA = (
    "<device><parent>scsi_host1</parent><capability type='scsi_host'><capability "
    "type='fc_host'><wwnn>2000000012349999</wwnn><wwpn>1000000012349999</wwpn></capability>"
    "</capability></device>"
)
