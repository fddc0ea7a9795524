"""The host's shape from a real libvirtd with QEMU: free pages, the CPU's full feature set."""

from __future__ import annotations

import collections
import contextlib
import os

import pytest
from lxml import etree

from resource_tracker.virt.disk import FileStorage
from resource_tracker.virt.libvirt import capabilities
from resource_tracker.virt.libvirt.connection import LibvirtConnection
from resource_tracker.virt.libvirt.driver import LibvirtDriver
from tests.support.counting import counting_opener

pytestmark = pytest.mark.libvirtd

CPU_MAP = "/usr/share/libvirt/cpu_map"
HUGEPAGES = "/sys/devices/system/node/node{cell}/hugepages/hugepages-{kib}kB/{name}"
OS_CONTROLLED = {"osxsave", "ospke"}  # a guest OS sets these bits; a baseline never lists them


@pytest.fixture
def driver(libvirtd):
    driver = LibvirtDriver(LibvirtConnection(libvirtd.uri), FileStorage(str(libvirtd.images)))
    yield driver
    driver.close()


def sysfs(cell: int, kib: int, name: str) -> int:
    with open(HUGEPAGES.format(cell=cell, kib=kib, name=name)) as value:
        return int(value.read())


def model_features(model: str) -> set[str]:
    """The features libvirt's CPU map gives `model`, with those of the models it builds on.

    Not those marked added='yes' or removed='yes' (libvirt 11.3's map, not 9.0's: the vmx-*
    features put into old models later, mpx taken out of them): libvirt keeps them in the
    definition for the domains that use the model, but names a host's CPU after a model
    whatever the host has of them, and its baseline lists each as the host has it (mpx
    disabled, no vmx-* on a host without VMX).
    """
    path = os.path.join(CPU_MAP, f"x86_{model}.xml")
    element = etree.parse(path).getroot().find(f"model[@name='{model}']")
    features = {
        feature.get("name")
        for feature in element.iterfind("feature")
        if "yes" not in (feature.get("added"), feature.get("removed"))
    }
    for base in element.iterfind("model"):
        features |= model_features(base.get("name"))
    return features


def test_free_pages_are_read_for_every_cell_and_size(driver):
    cells = driver.get_host_resources().topology.cells

    assert cells, "libvirtd reports the host's NUMA cells"
    for cell in cells:
        small, *huge = cell.pages
        assert small.size_bytes == os.sysconf("SC_PAGE_SIZE")
        assert 0 < small.free <= small.total
        for pool in huge:
            kib = pool.size_bytes // 1024
            assert pool.total == sysfs(cell.id, kib, "nr_hugepages")
            assert pool.free == sysfs(cell.id, kib, "free_hugepages")


@pytest.mark.skipif(os.geteuid() != 0, reason="reserving huge pages needs root")
def test_a_huge_page_pool_is_seen_with_its_free_pages(libvirtd):
    path = HUGEPAGES.format(cell=0, kib=2048, name="nr_hugepages")
    with open(path) as before:
        original = before.read()
    try:
        with open(path, "w") as pool:
            pool.write(str(int(original) + 4))
        driver = LibvirtDriver(LibvirtConnection(libvirtd.uri), FileStorage(str(libvirtd.images)))
        resources = driver.get_host_resources()
        driver.close()
    finally:
        with open(path, "w") as pool:
            pool.write(original)

    pages = {pool.size_bytes: pool for pool in resources.topology.cells[0].pages}
    assert pages[2 * 2**20].total == int(original) + 4
    assert pages[2 * 2**20].free >= 4


def test_cpu_features_include_what_the_model_implies(driver, libvirtd):
    cpu_info = driver.get_host_resources().cpu_info
    conn = libvirtd.connect()
    caps = capabilities.parse(conn.getCapabilities())
    conn.close()

    features = set(cpu_info.features)
    implied = model_features(caps.cpu.model)
    assert implied <= features, implied - features
    assert set(caps.cpu.features) - features <= OS_CONTROLLED
    assert len(features) > len(caps.cpu.features)
    assert cpu_info.maxphysaddr == caps.cpu.maxphysaddr


@contextlib.contextmanager
def written(path: str, value: str):
    """`path` (a sysfs knob) set to `value` for the block, then set back."""
    with open(path) as before:
        original = before.read().strip()
    try:
        with open(path, "w") as knob:
            knob.write(value)
        yield original
    finally:
        with open(path, "w") as knob:
            knob.write(original)


@pytest.mark.skipif(os.geteuid() != 0, reason="resizing a huge page pool needs root")
def test_a_pool_resized_is_seen_by_the_next_audit_on_the_same_connection(driver):
    path = HUGEPAGES.format(cell=0, kib=2048, name="nr_hugepages")
    before = driver.get_host_resources()

    with written(path, str(sysfs(0, 2048, "nr_hugepages") + 3)) as original:
        after = driver.get_host_resources()

    def pool(resources):
        return {p.size_bytes: p for p in resources.topology.cells[0].pages}[2 * 2**20]

    assert (pool(before).total, pool(after).total) == (int(original), int(original) + 3)
    assert pool(after).free == pool(before).free + 3


CPU1_ONLINE = "/sys/devices/system/cpu/cpu1/online"


@pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists(CPU1_ONLINE), reason="needs root and a CPU 1"
)
def test_a_cpu_taken_offline_is_seen_by_the_next_audit_on_the_same_connection(driver):
    """CPU 1 offline for the length of one audit (never CPU 0); libvirt 9.0's capabilities
    still list it with siblings on a libvirtd that built them before, so only
    virNodeGetCPUMap tells."""
    before = driver.get_host_resources()
    try:
        with written(CPU1_ONLINE, "0"):
            during = driver.get_host_resources()
    except OSError as error:
        pytest.skip(f"CPU 1 cannot be taken offline here: {error}")
    after = driver.get_host_resources()

    assert 1 in before.topology.online_cpus
    assert 1 not in during.topology.online_cpus
    assert during.vcpus == before.vcpus - 1
    assert after.topology.online_cpus == before.topology.online_cpus


@pytest.fixture
def counted(libvirtd, monkeypatch):
    """A driver on a connection that counts its calls by name, and the capabilities texts
    it parses, as (driver, calls, parses)."""
    calls: collections.Counter = collections.Counter()
    parses: list = []
    parse = capabilities.parse
    monkeypatch.setattr(capabilities, "parse", lambda *a: parses.append(a) or parse(*a))
    connection = LibvirtConnection(libvirtd.uri, open_connection=counting_opener(calls))
    driver = LibvirtDriver(connection, FileStorage(str(libvirtd.images)))
    yield driver, calls, parses
    driver.close()


def test_an_idle_hosts_audit_reads_no_capabilities(counted):
    """A new connection reads and parses the capabilities once; then each audit reads the
    online CPUs and the free pages only, and, with neither changed, no capabilities;
    hostname, version and the CPU's expanded features stay per connection."""
    driver, calls, parses = counted

    driver.get_host_resources()
    first = (calls["getCapabilities"], len(parses))
    for _ in range(3):
        driver.get_host_resources()

    assert first == (1, 1)
    assert (calls["getCapabilities"], len(parses)) == (1, 1)
    assert {name: calls[name] for name in PER_AUDIT} == dict.fromkeys(PER_AUDIT, 4)
    assert {name: calls[name] for name in PER_CONNECTION} == dict.fromkeys(PER_CONNECTION, 1)


@pytest.mark.skipif(os.geteuid() != 0, reason="resizing a huge page pool needs root")
def test_a_pool_resized_costs_one_capabilities_read(counted):
    driver, calls, parses = counted
    path = HUGEPAGES.format(cell=0, kib=2048, name="nr_hugepages")
    driver.get_host_resources()

    reads = []
    with written(path, str(sysfs(0, 2048, "nr_hugepages") + 2)):
        for _ in range(2):
            driver.get_host_resources()
            reads.append(calls["getCapabilities"])
    driver.get_host_resources()  # set back: a change again
    reads.append(calls["getCapabilities"])

    assert reads == [2, 2, 3]
    assert len(parses) == 3


@pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists(CPU1_ONLINE), reason="needs root and a CPU 1"
)
def test_a_cpu_taken_offline_costs_one_capabilities_read(counted):
    driver, calls, parses = counted
    driver.get_host_resources()

    reads = []
    try:
        with written(CPU1_ONLINE, "0"):
            for _ in range(2):
                driver.get_host_resources()
                reads.append(calls["getCapabilities"])
    except OSError as error:
        pytest.skip(f"CPU 1 cannot be taken offline here: {error}")
    driver.get_host_resources()  # online again: a change again
    reads.append(calls["getCapabilities"])

    assert reads == [2, 2, 3]
    assert len(parses) == 3


PER_AUDIT = ("getInfo", "getCPUMap", "getFreePages")
PER_CONNECTION = ("getCapabilities", "getHostname", "getVersion", "getType", "baselineCPU")
