"""Domains as Nova 34 writes them (its own config classes made the XML) on libvirt's test
driver: the row's stats count them by project and os_type exactly as Nova's own
compute/stats.py Stats does for the same instances; a domain without Nova's metadata (the
test driver's own `test`) is counted as before, and the per-flavor metric counts them."""

from __future__ import annotations

import json

import libvirt
import pytest

from resource_tracker.audit.tracker import HostPolicy
from tests.functional.test_host_shape import tracker_for
from tests.support import nova
from tests.support.nova_domains import NovaGuest, domain_xml

P1, P2 = "0f1e2d3c4b5a69788796a5b4c3d2e1f0", "5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b"
GUESTS = (
    (NovaGuest("instance-1", "11111111-1f7e-4d0a-9a2b-0e8e6f1a2b3c", P1), True),
    (NovaGuest("instance-2", "22222222-1f7e-4d0a-9a2b-0e8e6f1a2b3c", P1, properties={}), False),
    (
        NovaGuest(
            "instance-3",
            "33333333-1f7e-4d0a-9a2b-0e8e6f1a2b3c",
            P2,
            properties={"os_type": "windows"},
            flavor="m1.large",
        ),
        True,
    ),
)

# Nova's tracker: one update_stats_for_instance per instance on the host
NOVA_STATS = """
import json, sys
from nova.compute.stats import Stats
stats = Stats()
for instance in json.load(sys.stdin):
    stats.update_stats_for_instance(instance)
print(json.dumps(dict(stats)))
"""


@pytest.fixture
def nova_host():
    conn = libvirt.open("test:///default")  # held open: the test driver resets on last close
    for xml, (_guest, running) in zip(domain_xml(*(g for g, _ in GUESTS)), GUESTS, strict=True):
        domain = conn.defineXML(xml)
        if running:
            domain.create()
    yield conn
    conn.close()


def test_stats_count_nova_domains_as_nova_does(nova_host, sqlite_database, tmp_path):
    tracker, driver = tracker_for(sqlite_database, tmp_path)

    result = tracker.audit(HostPolicy())
    driver.close()

    (node,) = sqlite_database.compute_nodes("compute-1")
    ours = json.loads(node.stats)
    instances = [
        {
            "uuid": guest.uuid,
            "vm_state": "active" if running else "stopped",
            "task_state": None,
            "os_type": guest.properties.get("os_type"),
            "project_id": guest.project,
        }
        for guest, running in GUESTS
    ]
    novas = nova.run(NOVA_STATS, instances)
    keys = {k for k in novas if k.startswith(("num_proj_", "num_os_type_"))}
    assert keys == {f"num_proj_{P1}", f"num_proj_{P2}", "num_os_type_linux"} | {
        "num_os_type_None",
        "num_os_type_windows",
    }
    assert {k: ours.get(k) for k in keys} == {k: novas[k] for k in keys}
    assert not any(k.startswith("num_task_") for k in ours)  # Nova's database's to know
    # the test driver's own domain has no metadata: counted as before, in no project
    assert ours["num_instances"] == 4
    flavors = sorted(
        d.instance.flavor.name for d in result.resources.nova_domains if d.instance.flavor
    )
    assert flavors == ["m1.large", "m1.small", "m1.small"]
