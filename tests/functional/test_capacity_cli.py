"""resource-tracker-manage capacity by flavor: NUMA cells, dedicated CPUs and huge pages of the
rows, a flavors file answered in one call, and bad flavors named in one line."""

from __future__ import annotations

import json

import pytest

from resource_tracker.audit import nova_format
from resource_tracker.audit.shape import CellUsage, PageUsage
from resource_tracker.units import KiB, MiB
from tests.functional.test_manage import manage
from tests.support.nodes import node

FLAVORS = """\
flavors:
  m1.small: {vcpus: 1, ram: 2G, disk: 20G}  # a comment: YAML
  pinned.1g:
    vcpus: 4
    ram: 4G
    extra_specs: {hw:cpu_policy: dedicated, hw:mem_page_size: 1GB}
"""


def numa_cell(cell_id: int, cpus: range, huge_free: int) -> CellUsage:
    """8 GiB of ordinary pages and 8 pages of 1 GiB, `huge_free` of them unused; the CPUs
    dedicated."""
    return CellUsage(
        id=cell_id,
        socket=cell_id,
        shared_cpus=frozenset(),
        dedicated_cpus=frozenset(cpus),
        siblings=tuple(frozenset({cpu}) for cpu in cpus),
        memory_bytes=16384 * MiB,
        vcpus_used=0,
        pinned_cpus=frozenset(),
        memory_used_bytes=(8 - huge_free) * 1024 * MiB,
        pages=(
            PageUsage(4 * KiB, 8192 * 256, 0, 0, None),
            PageUsage(1048576 * KiB, 8, 8 - huge_free, 0, None),
        ),
    )


@pytest.fixture
def numa_fleet(sqlite_database, sqlite_url, tmp_path):
    """numa-hv: two cells of 16 dedicated CPUs with 1 GiB pages, 3 and 5 of them free;
    plain-hv: no cells."""
    cells = [numa_cell(0, range(16), huge_free=3), numa_cell(1, range(16, 32), huge_free=5)]
    sqlite_database.reconcile_compute_nodes(
        "numa",
        [node(hypervisor_hostname="numa-hv", vcpus=0, pcpus=32, pcpus_used=0,
              numa_topology=nova_format.numa_topology(cells))],
    )  # fmt: skip
    sqlite_database.reconcile_compute_nodes("plain", [node(hypervisor_hostname="plain-hv")])
    flavors = tmp_path / "flavors.yaml"
    flavors.write_text(FLAVORS)
    conf = tmp_path / "manage.conf"
    conf.write_text(
        f"[DEFAULT]\nhost = plain\nstate_path = {tmp_path}\n[database]\nconnection = "
        f"{sqlite_url}\n[capacity]\nflavors_file = {flavors}\n"
    )
    return str(conf)


def test_every_flavor_of_the_file_per_host_and_in_the_fleet(numa_fleet):
    table = manage(numa_fleet, "capacity")
    as_json = manage(numa_fleet, "capacity", "--format", "json")

    assert table.returncode == 0, table.stderr
    report = {entry["flavor"]["name"]: entry for entry in json.loads(as_json.stdout)["flavors"]}
    pinned = {host["host"]: host for host in report["pinned.1g"]["hosts"]}
    # a guest of 4 GiB in 1 GiB pages: cell 0 has 3 free pages, cell 1 has 5: one guest
    assert (pinned["numa"]["fits"], pinned["numa"]["limited_by"]) == (
        1,
        "cell 0 huge pages (1G); cell 1 huge pages (1G)",
    )
    assert pinned["plain"]["never"]
    assert pinned["plain"]["limited_by"] == "needs NUMA cells; the row has no numa_topology"
    assert report["pinned.1g"]["fleet"] == 1
    small = {host["host"]: host for host in report["m1.small"]["hosts"]}
    assert small["plain"]["fits"] > 0 and small["numa"]["never"]  # no shared CPUs there
    assert small["numa"]["limited_by"] == "vCPUs (VCPU): needs 1; host has 0 (max_unit)"
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["FLAVOR", "HOST", "STATE", "FITS", "BY_DISK", "LIMITED_BY"]
    assert "fleet: 1 more VMs of pinned.1g: 4 vCPUs, 4096 MiB RAM, 0 GiB disk" in lines[-1]
    assert table.stderr.splitlines()[-1] == "BY_DISK by disk_available_least"  # a legend


def test_a_flavor_of_the_file_by_name_and_one_given_with_extra_specs(numa_fleet):
    named = manage(numa_fleet, "capacity", "--flavor", "pinned.1g", "--format", "json")
    given = manage(
        numa_fleet, "capacity", "--vcpus", "4", "--ram", "4G", "--format", "json",
        "--extra-spec", "hw:cpu_policy=dedicated", "--extra-spec", "hw:mem_page_size=1GB",
    )  # fmt: skip

    assert named.returncode == 0 and given.returncode == 0, named.stderr + given.stderr
    assert json.loads(named.stdout)["hosts"] == json.loads(given.stdout)["hosts"]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--vcpus", "2", "--ram", "1G", "--extra-spec", "hw:cpu_polcy=dedicated"),
         "unknown extra spec 'hw:cpu_polcy'"),
        (("--vcpus", "2", "--ram", "1G", "--extra-spec", "hw:cpu_policy"), "give KEY=VALUE"),
        (("--flavor", "pinned.1g", "--extra-spec", "a=b"), "drop --extra-spec"),
    ],
)  # fmt: skip
def test_a_bad_flavor_is_one_line(numa_fleet, args, fragment):
    result = manage(numa_fleet, "capacity", *args)

    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and fragment in result.stderr


def test_a_bad_flavors_file_is_one_line_naming_the_option(numa_fleet, tmp_path):
    (tmp_path / "flavors.yaml").write_text("flavors:\n  x: {vcpus: 1, ram: 1G, gpus: 2}\n")

    result = manage(numa_fleet, "capacity")

    assert result.returncode != 0 and result.stderr.count("\n") == 1
    assert "[capacity] flavors_file: flavors file" in result.stderr
    assert "flavor x: unknown key(s) gpus" in result.stderr


def test_nodes_show_prints_the_cells_and_their_legend_on_stderr(numa_fleet):
    shown = manage(numa_fleet, "nodes", "show", "numa")
    piped_json = manage(numa_fleet, "nodes", "show", "numa", "-f", "json")

    assert shown.returncode == 0, shown.stderr
    assert "NUMA cells\nCELL" in shown.stdout and "VCPUS used/shared" not in shown.stdout
    assert shown.stderr.startswith("NUMA cells: VCPUS used/shared")
    assert piped_json.stderr == ""  # a document alone: no legend
