"""A domain stuck in a job (its QEMU frozen, another client holding the job lock) does not
hold the audit up: libvirt 11's XMLDesc waits for the job (9.0's did not), so a running
domain in a job keeps the definition of its last read until the job is over."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time

import libvirt
import pytest

from resource_tracker.virt.disk import FileStorage
from resource_tracker.virt.libvirt.connection import LibvirtConnection
from resource_tracker.virt.libvirt.domains import DomainLister
from resource_tracker.virt.libvirt.driver import LibvirtDriver
from tests.support import images
from tests.support.libvirtd import domain_xml
from tests.support.waiting import wait_for

pytestmark = pytest.mark.libvirtd

JOB_WAIT_S = 30  # how long libvirt makes a caller wait for a domain's job lock


def test_audit_is_not_held_up_by_a_domain_stuck_in_a_job(libvirtd, caplog):
    disk = images.create(libvirtd.images / "stuck.qcow2", "qcow2", "2G")
    libvirtd.give(disk)
    conn = libvirtd.connect()
    xml = domain_xml("stuck", [(disk, "qcow2")], 64, 1)
    dom = conn.createXML(xml.replace("<memballoon model='none'/>", "<memballoon model='virtio'/>"))
    with open(libvirtd.base / "run" / "libvirt" / "qemu" / "run" / "stuck.pid") as pidfile:
        qemu_pid = int(pidfile.read())
    lister = DomainLister(use_events=False)  # without events every audit would read its XML
    driver = LibvirtDriver(
        LibvirtConnection(libvirtd.uri), FileStorage(str(libvirtd.images)), domains=lister
    )
    holder = threading.Thread(target=_hold_job, args=(libvirtd.uri,), daemon=True)
    try:
        driver.get_host_resources()  # read once while it is well
        os.kill(qemu_pid, signal.SIGSTOP)
        holder.start()
        assert wait_for(lambda: dom.controlInfo()[0] != libvirt.VIR_DOMAIN_CONTROL_OK, 10)
        caplog.set_level(logging.INFO, "resource_tracker.virt.libvirt.domains")
        started = time.monotonic()
        stuck = driver.get_host_resources()
        took = time.monotonic() - started
        reads_while_stuck = lister.xml_reads
        os.kill(qemu_pid, signal.SIGCONT)
        holder.join(timeout=JOB_WAIT_S + 10)
        assert wait_for(lambda: dom.controlInfo()[0] == libvirt.VIR_DOMAIN_CONTROL_OK, 10)
        driver.get_host_resources()
    finally:
        os.kill(qemu_pid, signal.SIGCONT)
        holder.join(timeout=JOB_WAIT_S + 10)
        dom.destroy()
        driver.close()
        conn.close()

    assert took < JOB_WAIT_S / 3, f"the audit waited {took:.1f} s on the stuck domain"
    assert stuck.running_vms == 1
    assert [usage.path for usage in stuck.disks] == [disk]
    assert reads_while_stuck == 1  # its XML was not asked for while it was in the job
    assert lister.xml_reads == 2  # and was, once the job was over
    assert any("domain stuck is in a job" in r.getMessage() for r in caplog.records)


def _hold_job(uri: str) -> None:
    conn = libvirt.open(uri)
    try:
        conn.lookupByName("stuck").suspend()
    except libvirt.libvirtError:
        pass  # the frozen guest may make it fail; holding the job was the point
    finally:
        conn.close()
