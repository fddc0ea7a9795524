"""The libvirt driver against libvirt's test driver, with real images made by qemu-img."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import libvirt
import pytest

from resource_tracker.exception import HypervisorUnavailable
from resource_tracker.virt.disk import FileStorage
from resource_tracker.virt.libvirt.connection import LibvirtConnection
from resource_tracker.virt.libvirt.driver import LibvirtDriver
from tests.support import images

GiB = 2**30


@dataclass
class Host:
    driver: LibvirtDriver
    connection: LibvirtConnection
    disks: object
    disk_paths: tuple[str, ...]
    opened: list = field(default_factory=list)


@pytest.fixture
def host(mixed_host):
    uri, disks = mixed_host.uri, mixed_host.instances
    opened = []

    def open_counted(uri):
        opened.append(uri)
        return libvirt.openReadOnly(uri)

    connection = LibvirtConnection(uri, open_connection=open_counted)
    driver = LibvirtDriver(connection, FileStorage(str(disks)))
    yield Host(driver, connection, disks, mixed_host.disk_paths, opened)
    driver.close()


def test_host_capacity_comes_from_the_host_description(host):
    driver = host.driver

    resources = driver.get_host_resources()

    assert resources.vcpus == 12
    # The test driver has no node memory stats: getInfo()'s memory is the fallback.
    assert resources.memory_total_bytes == 33554432 * 1024
    assert resources.hypervisor_type == "TEST"
    assert resources.hypervisor_version == 2
    assert resources.hypervisor_hostname == os.uname().nodename


def test_usage_counts_active_domains_only(host):
    driver = host.driver

    resources = driver.get_host_resources()

    # running-a (2 of 4 vCPUs online, 2 GiB), running-b (4, 4 GiB), stopping-d (1, 1 GiB);
    # shut-off-c holds neither vCPUs nor memory.
    assert resources.vcpus_used == 2 + 4 + 1
    assert resources.memory_used_bytes == (2 + 4 + 1) * GiB
    assert resources.running_vms == 3
    assert resources.busy_vms == 1  # stopping-d is shutting down


def test_cpu_info_describes_the_host_cpu(host):
    driver = host.driver

    cpu = driver.get_host_resources().cpu_info

    assert cpu.arch == "i686"  # what the test driver's capabilities say
    assert (cpu.topology.cells, cpu.topology.sockets, cpu.topology.cores) == (2, 1, 3)
    assert cpu.topology.threads == 2
    assert json.loads(json.dumps(cpu.as_dict()))["features"] == ["nonpae", "pae"]


def test_every_file_disk_of_every_domain_is_measured(host):
    driver, disks = host.driver, host.disks

    resources = driver.get_host_resources()

    by_path = {usage.path: usage for usage in resources.disks}
    assert set(by_path) == set(host.disk_paths)
    for path, usage in by_path.items():
        assert usage.overcommit_bytes == images.expected_overcommit(path), path
    assert by_path[os.fspath(disks / "c-overlay.qcow2")].domain == "shut-off-c"
    assert resources.disk_overcommit_bytes == sum(map(images.expected_overcommit, by_path))


def test_local_storage_is_the_instances_file_system(host):
    driver, disks = host.driver, host.disks

    before = os.statvfs(disks)
    storage = driver.get_host_resources().storage
    after = os.statvfs(disks)

    assert storage.total_bytes == after.f_frsize * after.f_blocks
    assert storage.free_bytes in {fs.f_frsize * fs.f_bavail for fs in (before, after)}


def test_unreachable_libvirt_raises_hypervisor_unavailable(tmp_path):
    driver = LibvirtDriver(
        LibvirtConnection("qemu+unix:///system?socket=/nonexistent/libvirt-sock"),
        FileStorage(str(tmp_path)),
    )

    with pytest.raises(HypervisorUnavailable, match="cannot connect to libvirt at qemu"):
        driver.get_host_resources()


def test_connection_is_reused_while_alive(host):
    host.driver.get_host_resources()
    host.driver.get_host_resources()

    assert len(host.opened) == 1


def test_reconnects_after_the_connection_dies(host):
    host.driver.get_host_resources()
    host.connection.get().close()  # the client side of a libvirtd restart: a dead handle

    resources = host.driver.get_host_resources()

    assert len(host.opened) == 2
    assert resources.running_vms == 3
