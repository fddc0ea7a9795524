"""The SQL the README offers operators runs on MariaDB against a real schema and real rows."""

from __future__ import annotations

import os
import re

import pytest
from sqlalchemy import text

from resource_tracker.db.api import Database
from resource_tracker.resources import PciDeviceValues
from tests.support.nodes import node
from tests.support.paths import ROOT


def readme_queries() -> list[str]:
    with open(os.path.join(ROOT, "README.md")) as readme:
        section = readme.read().split("### Querying compute_nodes", 1)[1].split("\n### ", 1)[0]
    return re.findall(r"```sql\n(.*?)```", section, re.S)


def vf(function: int, status: str) -> PciDeviceValues:
    return PciDeviceValues(
        f"0000:81:10.{function}", "8086", "10ed", "type-VF", f"pci_0000_81_10_{function}",
        "label_8086_10ed", status, None, 1, "0000:81:00.0", "{}",
    )  # fmt: skip


def test_the_readme_offers_queries():
    assert len(readme_queries()) >= 5


@pytest.mark.mysql
@pytest.mark.parametrize("query", readme_queries(), ids=lambda q: q.splitlines()[0][3:40])
def test_readme_query_runs(mysql_url, query):
    database = Database(mysql_url)
    database.sync_schema()
    vfs = [vf(function, "available" if function else "allocated") for function in range(3)]
    database.reconcile_compute_nodes("roomy", [node(hypervisor_hostname="roomy")], {"roomy": vfs})
    database.reconcile_compute_nodes(
        "full", [node(hypervisor_hostname="full", free_ram_mb=0, disk_available_least=-3)]
    )
    database.reconcile_compute_nodes("full", [node(hypervisor_hostname="full-2")])
    try:
        with database.engine.connect() as connection:
            rows = connection.execute(text(query)).all()
    finally:
        database.dispose()

    title = query.splitlines()[0]
    if "can take a guest" in title:
        assert sorted(row.host for row in rows) == ["full", "roomy"]  # full-2 replaced full's node
    elif "outgrow" in title:
        assert rows == []  # 'full' went negative, but that node is soft-deleted now
    elif "capacity" in title:
        assert rows[0].hosts == 2 and rows[0].vcpus == 128
    elif "Free SR-IOV VFs" in title:
        assert [tuple(row) for row in rows] == [("roomy", 1, "8086", "10ed", 2)]
    elif "retired" in title:
        assert [(row.host, row.hypervisor_hostname) for row in rows] == [("full", "full")]
