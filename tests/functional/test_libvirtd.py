"""The libvirt driver against a real libvirtd with QEMU, where the test driver fakes things."""

from __future__ import annotations

import contextlib
import os
import re
import stat
import subprocess

import pytest

from resource_tracker.audit.tracker import HostPolicy, ResourceTracker
from resource_tracker.virt.disk import FileStorage
from resource_tracker.virt.libvirt.connection import LibvirtConnection
from resource_tracker.virt.libvirt.driver import LibvirtDriver
from tests.support import devices, images
from tests.support.libvirtd import domain_xml

pytestmark = pytest.mark.libvirtd

GiB = 2**30


@pytest.fixture
def driver(libvirtd):
    driver = LibvirtDriver(LibvirtConnection(libvirtd.uri), FileStorage(str(libvirtd.images)))
    yield driver
    driver.close()


def _meminfo_bytes(field: str) -> int:
    with open("/proc/meminfo") as meminfo:
        (kib,) = re.findall(rf"^{field}:\s+(\d+) kB$", meminfo.read(), re.M)
    return int(kib) * 1024


def _online_cpus() -> int:
    with open("/sys/devices/system/cpu/online") as online:
        ranges = online.read().strip().split(",")
    return sum(int(r.split("-")[-1]) - int(r.split("-")[0]) + 1 for r in ranges)


def test_host_memory_is_the_kernels_memtotal(driver):
    """Not getInfo()'s figure, which on NUMA-confused hosts is one node's memory."""
    assert driver.get_host_resources().memory_total_bytes == _meminfo_bytes("MemTotal")


def test_host_cpus_and_identity(driver):
    resources = driver.get_host_resources()
    qemu = subprocess.run(
        ["qemu-system-x86_64", "--version"], capture_output=True, text=True, check=True
    ).stdout
    major, minor, micro = map(int, re.search(r"version (\d+)\.(\d+)\.(\d+)", qemu).groups())

    assert resources.vcpus == _online_cpus()
    assert resources.hypervisor_type == "QEMU"
    assert resources.hypervisor_version == major * 1_000_000 + minor * 1_000 + micro
    assert resources.cpu_info.arch == "x86_64"


def test_running_and_shut_off_domains(libvirtd, driver):
    running_disk = images.create(libvirtd.images / "running.qcow2", "qcow2", "4G")
    stopped_disk = images.create(libvirtd.images / "stopped.raw", "raw", "1G")
    libvirtd.give(libvirtd.images, recursive=True)
    conn = libvirtd.connect()
    running = conn.createXML(domain_xml("running", [(running_disk, "qcow2")], 96, 2))
    stopped = conn.defineXML(domain_xml("stopped", [(stopped_disk, "raw")], 128, 3))
    try:
        resources = driver.get_host_resources()
    finally:
        running.destroy()
        stopped.undefine()
        conn.close()

    assert (resources.running_vms, resources.vcpus_used) == (1, 2)
    assert resources.memory_used_bytes == 96 * 2**20
    by_path = {usage.path: usage for usage in resources.disks}
    assert set(by_path) == {running_disk, stopped_disk}
    for path, usage in by_path.items():
        assert usage.overcommit_bytes == images.expected_overcommit(path)


STOPPED_KINDS = {"luks", "qcow2-v2", "raw-sparse"}  # LUKS would need a libvirt secret to start


@contextlib.contextmanager
def device_for_qemu(libvirtd, device: str):
    """Let QEMU, run as the daemon's user, open `device`; give it back to root afterwards."""
    st = os.stat(device)
    libvirtd.give(device)
    try:
        yield device
    finally:
        os.chown(device, st.st_uid, st.st_gid)
        os.chmod(device, stat.S_IMODE(st.st_mode))


def test_row_matches_qemu_img_and_statvfs_with_every_kind_of_disk(
    libvirtd, sqlite_database, tmp_path
):
    instances = libvirtd.images / "every-kind"
    kinds = images.every_kind(instances)
    libvirtd.give(libvirtd.images, recursive=True)
    running_disks = [(i.path, i.format) for n, i in kinds.items() if n not in STOPPED_KINDS]
    stopped_disks = [(i.path, i.format) for n, i in kinds.items() if n in STOPPED_KINDS]
    overcommit = sum(images.expected_overcommit(i.path, i.format) for i in kinds.values())
    database = sqlite_database
    driver = LibvirtDriver(LibvirtConnection(libvirtd.uri), FileStorage(str(instances)))
    tracker = ResourceTracker("compute-1", driver, database)
    conn = libvirtd.connect()
    with devices.loop_device(tmp_path, "64M") as loop, device_for_qemu(libvirtd, loop):
        block = [(loop, "block")]
        running = conn.createXML(domain_xml("every-kind", running_disks + block, 64, 1))
        stopped = conn.defineXML(domain_xml("every-kind-off", stopped_disks, 64, 1))
        try:
            before = os.statvfs(instances)
            result = tracker.audit(HostPolicy())
            after = os.statvfs(instances)
        finally:
            running.destroy()
            stopped.undefine()
            conn.close()
            driver.close()

    resources = result.resources
    assert resources.running_vms == 1
    assert {usage.path for usage in resources.disks} == {i.path for i in kinds.values()}
    assert resources.disk_overcommit_bytes == overcommit
    (node,) = database.compute_nodes("compute-1")
    assert node.disk_available_least in {
        (fs.f_frsize * fs.f_bavail - overcommit) // GiB for fs in (before, after)
    }
