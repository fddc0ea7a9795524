"""The SQL the docs offer operators (docs/database.md, "Querying compute_nodes") runs on MariaDB
against a real schema and real rows."""

from __future__ import annotations

import os
import re

import pytest
from sqlalchemy import text

from resource_tracker.audit import nova_format
from resource_tracker.audit.shape import CellUsage, PageUsage
from resource_tracker.db.api import Database
from resource_tracker.resources import PciDeviceValues
from tests.support.nodes import node
from tests.support.paths import ROOT


def documented_queries() -> list[str]:
    with open(os.path.join(ROOT, "docs", "database.md")) as page:
        section = page.read().split("## Querying compute_nodes", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sql\n(.*?)```", section, re.S)


def vf(function: int, status: str) -> PciDeviceValues:
    return PciDeviceValues(
        f"0000:81:10.{function}", "8086", "10ed", "type-VF", f"pci_0000_81_10_{function}",
        "label_8086_10ed", status, None, 1, "0000:81:00.0", "{}",
    )  # fmt: skip


def test_the_docs_offer_queries():
    assert len(documented_queries()) >= 8


GiB, MiB = 2**30, 2**20


def cell(cell_id: int, pinned: int, free_2m: int, free_1g: int, reserved_1g: int = 0):
    """A cell of 12 dedicated CPUs, `pinned` of them pinned, with huge pages free as given."""
    return CellUsage(
        id=cell_id,
        socket=0,
        shared_cpus=frozenset(range(100, 104)),
        dedicated_cpus=frozenset(range(cell_id * 12, cell_id * 12 + 12)),
        siblings=(),
        memory_bytes=64 * GiB,
        vcpus_used=0,
        pinned_cpus=frozenset(range(cell_id * 12, cell_id * 12 + pinned)),
        memory_used_bytes=0,
        pages=(
            PageUsage(4096, 1000, 0, 0, None),
            PageUsage(2 * MiB, 20000, 20000 - free_2m, 0, None),
            PageUsage(GiB, 40, 40 - free_1g - reserved_1g, reserved_1g, None),
        ),
    )


# roomy's cell 1 fits (16 GiB of 1 GiB pages, 12 free CPUs); cramped has CPUs in one cell and
# pages in the other, or pages only once the reserve is counted
NUMA_HOSTS = {
    "roomy": (cell(0, 12, 0, 40), cell(1, 0, 0, 16)),
    "cramped": (cell(0, 8, 8192, 0), cell(1, 0, 0, 15, reserved_1g=10)),
}


@pytest.mark.mysql
@pytest.mark.parametrize("query", documented_queries(), ids=lambda q: q.splitlines()[0][3:40])
def test_documented_query_runs(mysql_url, query):
    database = Database(mysql_url)
    database.sync_schema()
    vfs = [vf(function, "available" if function else "allocated") for function in range(3)]
    database.reconcile_compute_nodes(
        "roomy", [node(hypervisor_hostname="roomy")], devices={"roomy": vfs}
    )
    database.reconcile_compute_nodes(
        "full", [node(hypervisor_hostname="full", free_ram_mb=0, disk_available_least=-3)]
    )
    database.reconcile_compute_nodes("full", [node(hypervisor_hostname="full-2")])
    for host, cells in NUMA_HOSTS.items():
        topology = nova_format.numa_topology(cells)
        database.reconcile_compute_nodes(
            host, [node(hypervisor_hostname=host, numa_topology=topology)]
        )
    for host in ("nfs-1", "nfs-2"):  # one share: 999 GB counted once
        shared = node(hypervisor_hostname=host, storage_id="nfs:fs1:/nova", disk_available_least=7)
        database.reconcile_compute_nodes(host, [shared])
    try:
        with database.engine.connect() as connection:
            rows = connection.execute(text(query)).all()
    finally:
        database.dispose()

    title = query.splitlines()[0]
    if "can take a guest" in title:
        assert sorted(row.host for row in rows) == ["cramped", "full", "roomy"]
    elif "outgrow" in title:
        assert rows == []  # 'full' went negative, but that node is soft-deleted now
    elif "capacity" in title:
        assert rows[0].hosts == 5 and rows[0].vcpus == 320
    elif "NUMA cell able to hold" in title:
        assert [
            (row.host, row.cell, row.size_kb, row.free_pcpus, row.free_huge_gib) for row in rows
        ] == [("roomy", 1, 1048576, 12, 16)]
    elif "Free SR-IOV VFs" in title:
        assert [tuple(row) for row in rows] == [("roomy", 1, "8086", "10ed", 2)]
    elif "retired" in title:
        assert [(row.host, row.hypervisor_hostname) for row in rows] == [("full", "full")]
    elif "each storage counted once" in title:
        (fleet,) = rows
        assert (fleet.storages, fleet.disk_gb, fleet.free_gb) == (4, 4 * 999, 4 * 699)
        assert (fleet.overcommit_gb, fleet.available_least_gb) == (0, 3 * 645 + 7)
    elif "silent" in title:
        assert rows == []  # every tracker here just reported
    elif "Shared storages" in title:
        assert [(row.storage_id, row.hosts) for row in rows] == [("nfs:fs1:/nova", 2)]
    else:
        raise AssertionError(f"a query of the docs this test does not check: {title}")
