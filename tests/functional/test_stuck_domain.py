"""A domain stuck in a job (its QEMU frozen, another client holding the job lock) costs the
audit nothing: the audit makes no call that waits for a domain's job or monitor."""

from __future__ import annotations

import os
import signal
import threading
import time

import libvirt
import pytest

from resource_tracker.virt.disk import FileStorage
from resource_tracker.virt.libvirt.connection import LibvirtConnection
from resource_tracker.virt.libvirt.driver import LibvirtDriver
from tests.support import images
from tests.support.libvirtd import domain_xml

pytestmark = pytest.mark.libvirtd

JOB_WAIT_S = 30  # how long libvirt makes a caller wait for a domain's job lock


def test_audit_is_not_held_up_by_a_domain_stuck_in_a_job(libvirtd):
    disk = images.create(libvirtd.images / "stuck.qcow2", "qcow2", "2G")
    libvirtd.give(disk)
    conn = libvirtd.connect()
    xml = domain_xml("stuck", [(disk, "qcow2")], 64, 1)
    dom = conn.createXML(xml.replace("<memballoon model='none'/>", "<memballoon model='virtio'/>"))
    with open(libvirtd.base / "run" / "libvirt" / "qemu" / "run" / "stuck.pid") as pidfile:
        qemu_pid = int(pidfile.read())
    os.kill(qemu_pid, signal.SIGSTOP)
    holder = threading.Thread(target=_hold_job, args=(libvirtd.uri,), daemon=True)
    holder.start()
    driver = LibvirtDriver(LibvirtConnection(libvirtd.uri), FileStorage(str(libvirtd.images)))
    try:
        time.sleep(1)  # the holder's suspend now owns the job, waiting on the frozen monitor
        started = time.monotonic()
        resources = driver.get_host_resources()
        took = time.monotonic() - started
    finally:
        os.kill(qemu_pid, signal.SIGCONT)
        holder.join(timeout=JOB_WAIT_S + 10)
        dom.destroy()
        driver.close()
        conn.close()

    assert took < JOB_WAIT_S / 3, f"the audit waited {took:.1f} s on the stuck domain"
    assert resources.running_vms == 1
    assert [usage.path for usage in resources.disks] == [disk]


def _hold_job(uri: str) -> None:
    conn = libvirt.open(uri)
    try:
        conn.lookupByName("stuck").suspend()
    except libvirt.libvirtError:
        pass  # the frozen guest may make it fail; holding the job was the point
    finally:
        conn.close()
