"""The libvirt driver against libvirt's test driver, with real images made by qemu-img."""

from __future__ import annotations

import collections
import json
import logging
import os
from dataclasses import dataclass, field

import libvirt
import pytest

from resource_tracker.exception import HypervisorUnavailable
from resource_tracker.virt.disk import DiskMeter, FileStorage
from resource_tracker.virt.libvirt.connection import LibvirtConnection
from resource_tracker.virt.libvirt.driver import LibvirtDriver
from tests.support import devices, hosts, images, nova
from tests.support.counting import counting_opener
from tests.support.hosts import SHUT_OFF
from tests.support.libvirtd import domain_xml
from tests.support.opens import OpenWatch
from tests.support.still import measured_while_still
from tests.unit.virt.libvirt.test_host import NOVA_CPU_INFO

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
    # an empty <topology> in these capabilities: 0 cells, as Nova says, whatever getInfo's
    # <nodes>2</nodes> says
    assert (cpu.topology.cells, cpu.topology.sockets, cpu.topology.cores) == (0, 1, 3)
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

    storage, fs = measured_while_still(disks, lambda: driver.get_host_resources().storage)

    assert storage.total_bytes == fs.f_frsize * fs.f_blocks
    assert storage.free_bytes == fs.f_frsize * fs.f_bavail


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


@pytest.fixture(scope="module")
def kinds(tmp_path_factory):
    return images.every_kind(tmp_path_factory.mktemp("kinds"))


def every_kind_host(directory, kinds, extra_disks=()) -> str:
    """Two domains sharing every kind of image: 'running' and 'stopped' (shut off)."""
    disks = [(image.path, image.format) for image in kinds.values()]
    return hosts.write(
        directory,
        [
            domain_xml("running", disks[0::2], virt_type="test"),
            domain_xml("stopped", [*disks[1::2], *extra_disks], virt_type="test", extra=SHUT_OFF),
        ],
    )


def driver_for(uri, instances, **kwargs) -> LibvirtDriver:
    return LibvirtDriver(LibvirtConnection(uri), FileStorage(str(instances)), **kwargs)


def test_every_kind_of_disk_of_running_and_shut_off_domains(tmp_path, kinds):
    driver = driver_for(every_kind_host(tmp_path, kinds), tmp_path)

    resources = driver.get_host_resources()
    driver.close()

    assert resources.running_vms == 1
    by_path = {usage.path: usage for usage in resources.disks}
    assert set(by_path) == {image.path for image in kinds.values()}
    for name, image in kinds.items():
        usage = by_path[image.path]
        assert usage.overcommit_bytes == images.expected_overcommit(image.path, image.format), name
        assert usage.virtual_bytes == images.info(image.path, image.format)["virtual-size"], name
    assert {usage.domain for usage in resources.disks} == {"running", "stopped"}
    expected = sum(images.expected_overcommit(i.path, i.format) for i in kinds.values())
    assert resources.disk_overcommit_bytes == expected


def test_audit_logs_every_disk_at_debug_level(tmp_path, kinds, caplog):
    driver = driver_for(every_kind_host(tmp_path, kinds), tmp_path)

    with caplog.at_level(logging.DEBUG, logger="resource_tracker.virt.libvirt.driver"):
        resources = driver.get_host_resources()
    driver.close()

    for usage in resources.disks:
        (line,) = [r.getMessage() for r in caplog.records if f" {usage.path}," in r.getMessage()]
        assert f"allocated {usage.allocated_bytes} B" in line
        assert f"over-commit {usage.overcommit_bytes} B" in line
        assert usage.format in line


def test_steady_state_audit_reads_no_header(tmp_path, kinds):
    watch = OpenWatch(*(image.path for image in kinds.values()))
    driver = driver_for(
        every_kind_host(tmp_path, kinds), tmp_path, disk_meter=DiskMeter(racy_window_ns=0)
    )

    first = driver.get_host_resources()
    read_first = watch.opened()
    second = driver.get_host_resources()
    read_second = watch.opened()
    driver.close()
    watch.close()

    assert read_first == {image.path for image in kinds.values() if image.format == "qcow2"}
    assert read_second == set()
    assert second.disks == first.disks


class Saboteur:
    """A connection on which, right after the listing, one domain is undefined and another
    domain's disk deleted: the two things that can vanish mid-audit, done for real."""

    def __init__(self, conn, undefine: str, delete: str):
        self._conn, self._undefine, self._delete = conn, undefine, delete

    def getAllDomainStats(self, stats):
        listed = self._conn.getAllDomainStats(stats)
        self._conn.lookupByName(self._undefine).undefine()
        os.unlink(self._delete)
        return listed

    def __getattr__(self, name):
        return getattr(self._conn, name)


def test_domain_undefined_and_disk_deleted_mid_audit(tmp_path, caplog):
    kept = images.create(tmp_path / "kept.qcow2", "qcow2", "2G")
    doomed = images.create(tmp_path / "doomed.qcow2", "qcow2", "3G")
    deleted = images.create(tmp_path / "deleted.qcow2", "qcow2", "4G")
    uri = hosts.write(
        tmp_path,
        [
            domain_xml("kept", [(kept, "qcow2"), (deleted, "qcow2")], virt_type="test"),
            domain_xml("doomed", [(doomed, "qcow2")], virt_type="test", extra=SHUT_OFF),
        ],
    )

    def open_sabotaged(uri):
        return Saboteur(libvirt.open(uri), undefine="doomed", delete=deleted)

    driver = LibvirtDriver(LibvirtConnection(uri, open_sabotaged), FileStorage(str(tmp_path)))
    with caplog.at_level(logging.INFO):
        resources = driver.get_host_resources()
    driver.close()

    assert [usage.path for usage in resources.disks] == [kept]
    assert resources.disk_overcommit_bytes == images.expected_overcommit(kept)
    undefined, vanished = (
        r.getMessage() for r in caplog.records if "domain capabilities" not in r.getMessage()
    )
    assert "doomed" in undefined and "undefined" in undefined
    assert "deleted.qcow2" in vanished and "No such file" in vanished


def test_block_devices_count_zero_and_are_never_read(tmp_path):
    with devices.loop_device(tmp_path, "64M") as device:
        watch = OpenWatch(device)
        uri = hosts.write(
            tmp_path,
            [
                domain_xml("block", [(device, "block")], virt_type="test"),
                domain_xml("declared-file", [(device, "qcow2")], virt_type="test"),
            ],
        )
        driver = driver_for(uri, tmp_path)

        resources = driver.get_host_resources()
        driver.close()
        opened = watch.opened()
        watch.close()

    assert resources.disks == ()
    assert resources.disk_overcommit_bytes == 0
    assert opened == set()


def test_cpu_info_cells_are_what_nova_writes(host):
    """With and without NUMA cells in the capabilities (test:///default has two; a host file
    an empty <topology>, though getInfo says <nodes>2</nodes>): cells as Nova's _get_cpu_info
    says, and a numa_topology exactly where Nova would write one."""
    drivers = [host.driver, LibvirtDriver(LibvirtConnection("test:///default"), FileStorage("/"))]
    try:
        ours = [
            [resources.cpu_info.topology.cells, bool(resources.topology.cells)]
            for resources in (driver.get_host_resources() for driver in drivers)
        ]
        xmls = [
            host.connection.get().getCapabilities(),
            drivers[1]._connection.get().getCapabilities(),
        ]
    finally:
        drivers[1].close()

    assert ours == nova.run(NOVA_CPU_INFO, xmls)
    assert ours == [[0, False], [2, True]]


def test_the_test_drivers_made_up_cpu_map_is_not_asked():
    """libvirt's test driver answers virNodeGetCPUMap with CPUs 0, 2, 4 of 8 whatever its
    host; its capabilities (16 CPUs in 2 cells, all online) say."""
    calls: collections.Counter[str] = collections.Counter()
    connection = LibvirtConnection("test:///default", open_connection=counting_opener(calls))
    driver = LibvirtDriver(connection, FileStorage("/"))
    try:
        resources = driver.get_host_resources()
        made_up = libvirt.openReadOnly("test:///default").getCPUMap()
    finally:
        driver.close()

    assert made_up == (8, [True, False, True, False, True, False, False, False], 3)
    assert resources.topology.online_cpus == set(range(16))
    assert calls["getCPUMap"] == 0 and calls["getCapabilities"] == 1
