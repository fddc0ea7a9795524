"""The guest features (domain capabilities) as the driver reads them: libvirtd answers a
read-write connection, refuses a read-only one (the daemon's), and libvirt's test driver has
none; a refusal is one log line and never fails the audit."""

from __future__ import annotations

import logging

import libvirt
import pytest

from resource_tracker.virt.disk import FileStorage
from resource_tracker.virt.libvirt import domain_capabilities
from resource_tracker.virt.libvirt.connection import LibvirtConnection
from resource_tracker.virt.libvirt.driver import LibvirtDriver

LOGGER = "resource_tracker.virt.libvirt.driver"


class Counted:
    """A connection counting its getDomainCapabilities calls."""

    def __init__(self, conn: libvirt.virConnect, calls: list):
        self._conn, self._calls = conn, calls

    def getDomainCapabilities(self, *args):
        self._calls.append(args)
        return self._conn.getDomainCapabilities(*args)

    def __getattr__(self, name):
        return getattr(self._conn, name)


def audits(uri: str, opener, storage: str, connections: int, calls: list):
    """Two audits on each of `connections` connections, one after the other."""
    connection = LibvirtConnection(uri, open_connection=lambda u: Counted(opener(u), calls))
    driver = LibvirtDriver(connection, FileStorage(storage))
    try:
        found = []
        for _ in range(connections):
            found.append(driver.get_host_resources().guest_features)
            found.append(driver.get_host_resources().guest_features)
            connection.reset()
        return found
    finally:
        driver.close()


@pytest.mark.libvirtd
def test_read_write_connection_reads_them_once_per_connection(libvirtd):
    calls: list = []
    found = audits(libvirtd.uri, libvirt.open, str(libvirtd.images), 2, calls)

    conn = libvirt.open(libvirtd.uri)
    try:
        expected = domain_capabilities.merged([
            domain_capabilities.parse(conn.getDomainCapabilities(None, "x86_64", machine))
            for machine in (None, "q35")
        ])  # fmt: skip
    finally:
        conn.close()
    assert found == [expected] * 4
    assert {"virtio", "scsi", "ide"} <= expected.disk_buses and "virtio" in expected.video_models
    assert len(calls) == 4  # the default machine and q35, once per connection


@pytest.mark.libvirtd
def test_read_only_connection_is_refused_said_once(libvirtd, caplog):
    caplog.set_level(logging.INFO, LOGGER)
    calls: list = []

    found = audits(libvirtd.uri, libvirt.openReadOnly, str(libvirtd.images), 2, calls)

    assert found == [None] * 4 and len(calls) == 2  # asked again on a new connection
    said = [r.getMessage() for r in caplog.records if "domain capabilities" in r.getMessage()]
    assert len(said) == 1
    assert "read only access prevents virConnectGetDomainCapabilities" in said[0]


def test_test_driver_has_none(mixed_host, caplog):
    caplog.set_level(logging.INFO, LOGGER)
    calls: list = []

    found = audits(mixed_host.uri, libvirt.open, str(mixed_host.instances), 1, calls)

    assert found == [None, None] and len(calls) == 1
    assert sum("gives no domain capabilities" in r.getMessage() for r in caplog.records) == 1
