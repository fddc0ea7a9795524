"""The guest features (domain capabilities) through their own short-lived read-write
connection (guest_features.py), on the suite's real libvirtd: read once per audit
connection; refused (a read-only open, as the daemon's user without libvirt's group gets
no read-write one), an open that fails, a libvirtd that never answers, libvirt's test
driver: one log line each, the features unknown, the audit goes on."""

from __future__ import annotations

import dataclasses
import logging
import socket
import time

import libvirt
import pytest

from resource_tracker.virt import kvm_amd
from resource_tracker.virt.disk import FileStorage
from resource_tracker.virt.libvirt import domain_capabilities
from resource_tracker.virt.libvirt.connection import LibvirtConnection
from resource_tracker.virt.libvirt.driver import LibvirtDriver
from resource_tracker.virt.libvirt.guest_features import RETRY_S, GuestFeaturesReader
from tests.support.waiting import wait_for

LOGGER = "resource_tracker.virt.libvirt.guest_features"


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def audits(uri: str, reader: GuestFeaturesReader, storage: str, connections: int) -> list:
    """Two audits on each of `connections` audit connections, one after the other."""
    connection = LibvirtConnection(uri)
    driver = LibvirtDriver(connection, FileStorage(storage), guest_reader=reader)
    try:
        found = []
        for _ in range(connections):
            found.append(driver.get_host_resources().guest_features)
            found.append(driver.get_host_resources().guest_features)
            connection.reset()
        return found
    finally:
        driver.close()


def lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER]


@pytest.mark.libvirtd
def test_read_write_connection_reads_them_once_per_audit_connection(libvirtd):
    reader = GuestFeaturesReader(libvirtd.uri)
    found = audits(libvirtd.uri, reader, str(libvirtd.images), 2)

    conn = libvirt.open(libvirtd.uri)
    try:
        expected = domain_capabilities.merged([
            domain_capabilities.parse(conn.getDomainCapabilities(None, "x86_64", machine))
            for machine in (None, "q35")
        ])  # fmt: skip
    finally:
        conn.close()
    expected = dataclasses.replace(expected, kvm_amd=kvm_amd.sev_parameters())
    assert found == [expected] * 4
    assert {"virtio", "scsi", "ide"} <= expected.disk_buses and "virtio" in expected.video_models
    assert reader.reads == 2  # one short-lived connection per audit connection


@pytest.mark.libvirtd
def test_a_refused_read_is_said_once_and_asked_again_per_connection_or_hourly(libvirtd, caplog):
    """libvirtd's own refusal (VIR_ERR_OPERATION_DENIED) of a connection that is not
    read-write: the open here is read-only, as the daemon's user gets where libvirt's
    read-write socket is closed to it."""
    caplog.set_level(logging.INFO, LOGGER)
    clock = Clock()
    reader = GuestFeaturesReader(libvirtd.uri, libvirt.openReadOnly, clock=clock)
    connection = LibvirtConnection(libvirtd.uri)
    driver = LibvirtDriver(connection, FileStorage(str(libvirtd.images)), guest_reader=reader)
    try:
        found = [driver.get_host_resources().guest_features for _ in range(3)]
        assert reader.reads == 1  # not every audit
        clock.now += RETRY_S
        found.append(driver.get_host_resources().guest_features)
        assert reader.reads == 2  # an hour later
        connection.reset()
        found.append(driver.get_host_resources().guest_features)
        assert reader.reads == 3  # a new audit connection
    finally:
        driver.close()

    assert found == [None] * 5
    (said,) = lines(caplog)
    assert "read only access prevents virConnectGetDomainCapabilities" in said
    assert "usermod -aG libvirt resource-tracker" in said
    assert caplog.records[0].levelno == logging.WARNING


@pytest.mark.libvirtd
def test_a_read_write_open_that_fails_is_said_once(libvirtd, tmp_path, caplog):
    caplog.set_level(logging.INFO, LOGGER)
    closed = f"qemu+unix:///session?socket={tmp_path}/libvirt-sock"  # no libvirtd there

    reader = GuestFeaturesReader(libvirtd.uri, lambda _uri: libvirt.open(closed))
    found = audits(libvirtd.uri, reader, str(libvirtd.images), 2)

    assert found == [None] * 4 and reader.reads == 2
    (said,) = lines(caplog)
    assert said.startswith(f"cannot open libvirt at {libvirtd.uri} read-write (")
    assert "Failed to connect socket" in said and "usermod -aG libvirt" in said


def test_a_libvirtd_that_never_answers_costs_the_limit_once(tmp_path, caplog):
    """A socket that takes connections and never answers: libvirt's open waits for ever.
    The audit waits the limit once; the read stays in its thread, never doubled, and its
    answer is taken when it ends (here: when the socket closes)."""
    caplog.set_level(logging.INFO, LOGGER)
    path = tmp_path / "libvirt-sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(4)
    uri = f"qemu+unix:///session?socket={path}"
    reader = GuestFeaturesReader(uri, limit_s=0.5)
    try:
        started = time.monotonic()
        assert reader.features("audit connection", "x86_64") is None
        waited = time.monotonic() - started
        assert reader.features("audit connection", "x86_64") is None
        assert reader.features("another connection", "x86_64") is None
        assert 0.5 <= waited < 5 and time.monotonic() - started < waited + 0.5
        assert reader.reads == 1
        accepted, _ = server.accept()
        accepted.close()
    finally:
        server.close()

    def answered() -> bool:
        reader.features("audit connection", "x86_64")
        return len(lines(caplog)) == 2

    assert wait_for(answered, 30)
    said = lines(caplog)
    assert said[0].startswith(f"libvirt at {uri} did not give its domain capabilities within")
    assert said[1].startswith(f"cannot open libvirt at {uri} read-write") and len(said) == 2


def test_test_driver_has_none(mixed_host, caplog):
    caplog.set_level(logging.INFO, LOGGER)
    reader = GuestFeaturesReader(mixed_host.uri)

    found = audits(mixed_host.uri, reader, str(mixed_host.instances), 1)

    # libvirt 9 refuses the test driver's domain capabilities; libvirt 11 (Debian 13) answers
    # them with nothing in them: no trait either way
    assert all(f is None or not (f.disk_buses or f.video_models) for f in found)
    assert reader.reads == 1
    if found == [None, None]:
        (said,) = lines(caplog)
        assert "gives no domain capabilities" in said and "usermod" not in said
        assert caplog.records[0].levelno == logging.INFO


def test_no_reader_no_read(mixed_host, caplog):
    """Not reporting to Placement (or read_domain_capabilities = false): no read-write
    connection, no line."""
    caplog.set_level(logging.INFO)
    driver = LibvirtDriver(LibvirtConnection(mixed_host.uri), FileStorage(mixed_host.instances))
    try:
        assert driver.get_host_resources().guest_features is None
    finally:
        driver.close()
    assert not any("domain capabilities" in r.getMessage() for r in caplog.records)
