"""The host's shape through libvirt's test driver: cells, domains' placement, the row, start-up.

test:///default has two NUMA cells of 8 CPUs (2 and 4 GiB, 4 KiB pages only in cell 0 and
8 KiB in cell 1, no huge pages) and one running domain, `test`, that is not NUMA-bound. Its
state is shared by every connection of this process and resets when the last one closes, so
each test holds a read-write connection open while it audits.
"""

from __future__ import annotations

import json

import libvirt
import pytest

from resource_tracker.audit.shape import ShapePolicy
from resource_tracker.audit.tracker import HostPolicy, ResourceTracker
from resource_tracker.db.api import Database
from resource_tracker.virt.disk import FileStorage
from resource_tracker.virt.libvirt.connection import LibvirtConnection
from resource_tracker.virt.libvirt.driver import LibvirtDriver
from tests.functional.test_cli import assert_one_line_error, run
from tests.support.nodes import StatementLog

GiB = 2**30

PINNED = """<domain type='test'><name>pinned</name><memory unit='GiB'>1</memory>
  <vcpu placement='static'>2</vcpu>
  <cputune><vcpupin vcpu='0' cpuset='12'/><vcpupin vcpu='1' cpuset='13'/>
    <emulatorpin cpuset='14'/></cputune>
  <numatune><memnode cellid='0' mode='strict' nodeset='1'/></numatune>
  <memoryBacking><hugepages><page size='8' unit='KiB'/></hugepages></memoryBacking>
  <cpu><numa><cell id='0' cpus='0-1' memory='1048576' unit='KiB'/></numa></cpu>
  <os><type>hvm</type></os></domain>"""
FLOATING = """<domain type='test'><name>floating</name><memory unit='MiB'>512</memory>
  <vcpu placement='static'>3</vcpu><numatune><memory mode='strict' nodeset='0'/></numatune>
  <os><type>hvm</type></os></domain>"""
SHAPE = ShapePolicy(
    shared_cpus=frozenset(range(8)), dedicated_cpus=frozenset(range(8, 16)), host_ip="192.0.2.5"
)


@pytest.fixture
def default_host():
    conn = libvirt.open("test:///default")
    yield conn
    conn.close()


def tracker_for(
    database: Database, tmp_path, shape_policy=SHAPE
) -> tuple[ResourceTracker, LibvirtDriver]:
    driver = LibvirtDriver(LibvirtConnection("test:///default"), FileStorage(str(tmp_path)))
    return ResourceTracker("compute-1", driver, database, shape_policy=shape_policy), driver


def cells_of(node) -> list[dict]:
    topology = json.loads(node.numa_topology)
    return [cell["nova_object.data"] for cell in topology["nova_object.data"]["cells"]]


def free_pages(conn, topology) -> dict[tuple[int, int], int | None]:
    """(cell, page size in KiB): what libvirt says is free, None where it does not say."""
    sizes = sorted({pool.size_bytes // 1024 for cell in topology.cells for pool in cell.pages})
    try:
        free = conn.getFreePages(sizes, 0, len(topology.cells)) or {}
    except libvirt.libvirtError:
        free = {}
    return {
        (cell.id, pool.size_bytes // 1024): free.get(cell.id, {}).get(pool.size_bytes // 1024)
        for cell in topology.cells
        for pool in cell.pages
    }


def test_the_default_test_host_has_two_cells(default_host, database, tmp_path):
    tracker, driver = tracker_for(database, tmp_path)

    result = tracker.audit(HostPolicy())
    driver.close()

    topology = result.resources.topology
    assert [cell.cpus for cell in topology.cells] == [set(range(8)), set(range(8, 16))]
    # free counts as getFreePages answers them: libvirt 9's test driver with nothing (they
    # stay unknown), libvirt 11's with a count for every cell and size
    assert {
        (cell.id, pool.size_bytes // 1024): pool.free
        for cell in topology.cells
        for pool in cell.pages
    } == free_pages(default_host, topology)
    (node,) = database.compute_nodes("compute-1")
    first, second = cells_of(node)
    assert (first["cpuset"], first["pcpuset"]) == (list(range(8)), [])
    assert (second["cpuset"], second["pcpuset"]) == ([], list(range(8, 16)))
    assert (first["memory"], second["memory"]) == (2048, 4096)
    assert [(p["nova_object.data"]["size_kb"], p["nova_object.data"]["total"]) for p in
            first["mempages"]] == [(4, 524288), (2048, 0), (1048576, 0)]  # fmt: skip
    assert (first["socket"], second["socket"]) == (0, 1)
    assert (node.vcpus, node.pcpus, node.pcpus_used, node.host_ip) == (8, 8, 0, "192.0.2.5")
    assert json.loads(node.supported_instances) == [
        ["i686", "test", "hvm"],
        ["i686", "test", "xen"],
    ]
    assert json.loads(node.stats) == {"io_workload": 0, "num_instances": 1, "num_vm_active": 1}


def test_pinned_numa_bound_and_hugepage_domains_change_their_cells(
    default_host, database, tmp_path
):
    tracker, driver = tracker_for(database, tmp_path)
    tracker.audit(HostPolicy())
    (before,) = database.compute_nodes("compute-1")
    default_host.createXML(PINNED, 0)
    default_host.createXML(FLOATING, 0)

    tracker.audit(HostPolicy())
    driver.close()

    (after,) = database.compute_nodes("compute-1")
    first, second = cells_of(after)
    assert [cell["memory_usage"] for cell in cells_of(before)] == [0, 0]
    assert (first["memory_usage"], second["memory_usage"]) == (512, 1024)
    assert (first["cpu_usage"], second["cpu_usage"]) == (3, 0)  # the pinned vCPUs are not shared
    assert (first["pinned_cpus"], second["pinned_cpus"]) == ([], [12, 13, 14])
    assert (after.pcpus, after.pcpus_used) == (8, 3)
    pages = {p["nova_object.data"]["size_kb"]: p["nova_object.data"]["used"] for p in
             second["mempages"]}  # fmt: skip
    assert pages[8] == GiB // 8192  # the pinned guest's 1 GiB in cell 1's 8 KiB pages
    assert first["mempages"][0]["nova_object.data"]["used"] == 512 * 1024 // 4


def test_idle_audits_write_nothing(default_host, database, tmp_path):
    default_host.createXML(PINNED, 0)
    tracker, driver = tracker_for(database, tmp_path)
    tracker.audit(HostPolicy())
    log = StatementLog(database.engine)

    for _ in range(3):
        assert not tracker.audit(HostPolicy()).changed
    driver.close()

    assert log.count("UPDATE compute_nodes") == 0


def write_config(tmp_path, database: str, default: str = "", compute: str = "") -> str:
    path = tmp_path / "shape.conf"
    path.write_text(
        f"[DEFAULT]\nhost = compute-1\nstate_path = {tmp_path}\ninstances_path = {tmp_path}\n"
        f"periodic_fuzzy_delay = 0\n{default}\n[compute]\n{compute}\n"
        f"[libvirt]\nconnection_uri = test:///default\n[database]\nconnection = {database}\n"
    )
    return str(path)


@pytest.mark.parametrize("once", [True, False], ids=["once", "daemon"])
@pytest.mark.parametrize(
    ("default", "compute", "says"),
    [
        (
            "",
            "cpu_dedicated_set = 8-19",
            "[compute] cpu_dedicated_set: CPUs 16-19 are offline or absent (online: 0-15)",
        ),
        (
            "vcpu_pin_set = 0-3,40",
            "",
            "[DEFAULT] vcpu_pin_set: CPUs 40 are offline or absent (online: 0-15)",
        ),
        (
            "reserved_huge_pages = node:2,size:2048,count:8",
            "",
            "[DEFAULT] reserved_huge_pages: NUMA cell 2 has no pages of 2048 KiB (cells: 0: "
            "4/2048/1048576 KiB, 1: 8/2048/1048576 KiB)",
        ),
        ("", "cpu_shared_set = 0-3,x", "[compute] cpu_shared_set: invalid value '0-3,x'"),
    ],
)
def test_a_set_the_host_cannot_have_stops_start_up_with_one_line(
    tmp_path, sqlite_url, once, default, compute, says
):
    conf = write_config(tmp_path, sqlite_url, default, compute)
    database = Database(sqlite_url)
    database.sync_schema()

    result = run("resource-tracker", "--config-file", conf, *(["--once"] if once else []))

    assert_one_line_error(result, says)
    assert result.returncode == 2
    assert database.compute_nodes("compute-1") == []
    database.dispose()


def test_vcpu_pin_set_wins_over_cpu_shared_set_with_one_warning(tmp_path, sqlite_url):
    """As Nova 34 (_check_cpu_set_configuration warns, _get_vcpu_available takes
    vcpu_pin_set): accepted, vcpu_pin_set gives the shared CPUs."""
    conf = write_config(tmp_path, sqlite_url, "vcpu_pin_set = 0-3", "cpu_shared_set = 2-7")
    run("resource-tracker-manage", "--config-file", conf, "db", "sync")

    result = run("resource-tracker", "--config-file", conf, "--once")
    shown = run(
        "resource-tracker-manage", "--config-file", conf, "nodes", "show", "--format", "json"
    )

    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "cmd.host_shape" in line]
    assert len(warnings) == 1 and warnings[0].endswith(
        "[DEFAULT] vcpu_pin_set and [compute] cpu_shared_set are both set: vcpu_pin_set gives "
        "the shared CPUs (vcpus) and cpu_shared_set is not used; move vcpu_pin_set's CPUs to "
        "cpu_shared_set and unset vcpu_pin_set"
    ), result.stderr
    (node,) = json.loads(shown.stdout)
    assert node["vcpus"] == 4


def test_a_valid_config_audits(tmp_path, sqlite_url):
    conf = write_config(
        tmp_path,
        sqlite_url,
        "reserved_huge_pages = node:1,size:8,count:100\nmy_ip = 192.0.2.9",
        "cpu_shared_set = 0-5\ncpu_dedicated_set = 6-15",
    )
    run("resource-tracker-manage", "--config-file", conf, "db", "sync")

    result = run("resource-tracker", "--config-file", conf, "--once")
    shown = run("resource-tracker-manage", "--config-file", conf, "nodes", "show")
    as_json = run(
        "resource-tracker-manage", "--config-file", conf, "nodes", "show", "--format", "json"
    )

    assert result.returncode == 0, result.stderr
    (node,) = json.loads(as_json.stdout)
    assert (node["vcpus"], node["pcpus"], node["host_ip"]) == (6, 10, "192.0.2.9")
    cells = [
        cell["nova_object.data"] for cell in node["numa_topology"]["nova_object.data"]["cells"]
    ]
    assert cells[1]["mempages"][0]["nova_object.data"] == {
        "size_kb": 8, "total": 524288, "used": 0, "reserved": 100
    }  # fmt: skip
    table = shown.stdout.split("NUMA cells\n", 1)[1].splitlines()
    assert table[0].split() == [
        "CELL", "SOCKET", "VCPUS", "PINNED", "MEM_GIB", "PAGES_GIB", "HUGEPAGES"
    ]  # fmt: skip
    # the smallest pages: 4 KiB in cell 0, 8 KiB in cell 1 (the test driver's host), whose
    # reserve is the 100 pages of reserved_huge_pages
    assert table[1].split() == [
        "0", "0", "0/6", "0/2", "0.0/2.0", "4K", "0.0/2.0", "2M", "0/0,", "1G", "0/0"
    ]  # fmt: skip
    assert table[2].split() == [
        "1", "1", "0/0", "0/8", "0.0/4.0", "8K", "0.0/4.0", "r100", "2M", "0/0,", "1G", "0/0"
    ]  # fmt: skip
