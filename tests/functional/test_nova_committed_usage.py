"""The use columns against Nova 34's own tracker: every domain counts, shut-off ones too.

The 'mixed' test-driver host (two running domains, one shut off, one shutting down) is
audited into SQLite; Nova's ResourceTracker._update_usage_from_instances (in its throwaway
virtualenv) counts the same instances, the shut-off one `stopped`, with the same reserves.
"""

from __future__ import annotations

import json
import os

import libvirt
import pytest

from resource_tracker.audit.tracker import HostPolicy, ResourceTracker
from resource_tracker.virt.disk import FileStorage
from resource_tracker.virt.libvirt.connection import LibvirtConnection
from resource_tracker.virt.libvirt.domains import parse_domain
from resource_tracker.virt.libvirt.driver import LibvirtDriver
from tests.support import nova_numa

GiB, MiB = 2**30, 2**20
POLICY = HostPolicy(reserved_host_memory_mb=1024, reserved_host_disk_mb=2048, reserved_host_cpus=1)
VM_STATES = {libvirt.VIR_DOMAIN_SHUTOFF: "stopped", libvirt.VIR_DOMAIN_PAUSED: "paused"}


@pytest.fixture
def sqlite_only(database):
    if database.engine.dialect.name != "sqlite":
        pytest.skip("the columns do not depend on the database")
    return database


def used_gib(path) -> int:
    used = os.statvfs(path)
    return used.f_frsize * (used.f_blocks - used.f_bfree) // GiB


def instances(uri: str) -> list[dict]:
    """Each domain of the host as a Nova instance: its flavor and vm_state."""
    conn = libvirt.openReadOnly(uri)
    try:
        found = []
        for dom in conn.listAllDomains():
            domain = parse_domain(dom.XMLDesc(0))
            flavor = nova_numa.flavor(domain.name, domain.vcpus, domain.memory_bytes // MiB)
            state = VM_STATES.get(dom.state()[0], "active")
            found.append(flavor | {"vm_state": state})
        return found
    finally:
        conn.close()


def test_shut_off_domains_and_the_reserve_count_as_in_nova(mixed_host, sqlite_only):
    driver = LibvirtDriver(
        LibvirtConnection(mixed_host.uri), FileStorage(str(mixed_host.instances))
    )
    used_before = used_gib(mixed_host.instances)
    result = ResourceTracker("compute-1", driver, sqlite_only).audit(POLICY)
    used_after = used_gib(mixed_host.instances)
    (node,) = sqlite_only.compute_nodes("compute-1")
    guests = instances(mixed_host.uri)
    assert sorted(guest["vm_state"] for guest in guests) == ["active"] * 3 + ["stopped"]

    novas = nova_numa.track(
        {"memory_mb": node.memory_mb, "local_gb": node.local_gb, "vcpus": node.vcpus},
        {
            "reserved_host_memory_mb": POLICY.reserved_host_memory_mb,
            "reserved_host_disk_mb": POLICY.reserved_host_disk_mb,
            "reserved_host_cpus": POLICY.reserved_host_cpus,
        },
        guests,
    )

    for column in ("vcpus_used", "memory_mb_used", "free_ram_mb", "running_vms"):
        assert getattr(node, column) == novas[column], column
    assert (node.vcpus_used, node.memory_mb_used, node.running_vms) == (1 + 15, 1024 + 15360, 4)
    # Nova's local_gb_used is the reserve and the flavors' disks (none here); ours the reserve
    # and what the storage really has used (as a user, the instances share /tmp with other
    # writers: the audit's figure lies between the two taken around it)
    assert novas["local_gb_used"] == 2
    assert min(used_before, used_after) <= node.local_gb_used - 2 <= max(used_before, used_after)
    assert node.free_disk_gb == node.local_gb - node.local_gb_used
    stats = json.loads(node.stats)
    assert stats["num_instances"] == novas["stats"]["num_instances"] == 4
    assert stats["num_vm_stopped"] == novas["stats"]["num_vm_stopped"] == 1
    # the running-only figures stay in the audit's resources (the metrics)
    assert (result.resources.running_vms, result.resources.vcpus_used) == (3, 7)
