"""The SQL the README offers operators runs on MariaDB against a real schema and real rows."""

from __future__ import annotations

import os
import re

import pytest
from sqlalchemy import text

from resource_tracker.db.api import Database
from tests.support.nodes import node
from tests.support.paths import ROOT


def readme_queries() -> list[str]:
    with open(os.path.join(ROOT, "README.md")) as readme:
        section = readme.read().split("### Querying compute_nodes", 1)[1].split("\n### ", 1)[0]
    return re.findall(r"```sql\n(.*?)```", section, re.S)


def test_the_readme_offers_queries():
    assert len(readme_queries()) >= 7


@pytest.mark.mysql
@pytest.mark.parametrize("query", readme_queries(), ids=lambda q: q.splitlines()[0][3:40])
def test_readme_query_runs(mysql_url, query):
    database = Database(mysql_url)
    database.sync_schema()
    database.reconcile_compute_nodes("roomy", [node(hypervisor_hostname="roomy")])
    database.reconcile_compute_nodes(
        "full", [node(hypervisor_hostname="full", free_ram_mb=0, disk_available_least=-3)]
    )
    database.reconcile_compute_nodes("full", [node(hypervisor_hostname="full-2")])
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
        assert sorted(row.host for row in rows) == ["full", "roomy"]  # full-2 replaced full's node
    elif "outgrow" in title:
        assert rows == []  # 'full' went negative, but that node is soft-deleted now
    elif "capacity" in title:
        assert rows[0].hosts == 4 and rows[0].vcpus == 256
    elif "retired" in title:
        assert [(row.host, row.hypervisor_hostname) for row in rows] == [("full", "full")]
    elif "each storage counted once" in title:
        (fleet,) = rows
        assert (fleet.storages, fleet.disk_gb, fleet.free_gb) == (3, 3 * 999, 3 * 699)
        assert (fleet.overcommit_gb, fleet.available_least_gb) == (0, 645 + 645 + 7)
    elif "silent" in title:
        assert rows == []  # every tracker here just reported
    elif "Shared storages" in title:
        assert [(row.storage_id, row.hosts) for row in rows] == [("nfs:fs1:/nova", 2)]
    else:
        raise AssertionError(f"a README query this test does not check: {title}")
