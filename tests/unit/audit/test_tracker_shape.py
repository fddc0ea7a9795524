"""The host's shape in the row: vcpus from the CPU sets, huge page pools out of free_ram_mb."""

from __future__ import annotations

import dataclasses
import json

from resource_tracker.audit.shape import ShapePolicy
from resource_tracker.audit.tracker import HostPolicy, compute_node_values
from resource_tracker.resources import CpuInfo, CpuTopology, GuestNumaCell, MaxPhysAddr, Placement
from tests.unit.audit.test_shape import FOUR_CELLS, SPLIT, TWO_SOCKETS
from tests.unit.audit.test_tracker import RESOURCES

MiB, GiB = 2**20, 2**30
POOLS_MB = (1024 + 2048 + 3072 + 4096) * 2 + 8 * 1024  # four-cells-pages.xml: 28 GiB


def test_huge_page_pools_are_not_free_ram():
    """A guest without huge pages cannot use pool memory: free_ram_mb leaves it out, while
    memory_mb (MemTotal) and memory_mb_used (every domain) keep their meaning."""
    plain = compute_node_values(RESOURCES, HostPolicy())
    with_pools = dataclasses.replace(RESOURCES, topology=FOUR_CELLS)

    values = compute_node_values(with_pools, HostPolicy())

    assert (values.memory_mb, values.memory_mb_used) == (plain.memory_mb, plain.memory_mb_used)
    assert values.free_ram_mb == plain.free_ram_mb - POOLS_MB


def test_pool_memory_a_guest_uses_is_counted_once():
    guest = Placement(numa=(GuestNumaCell(frozenset({0}), 4 * GiB, frozenset({0}), GiB),))
    resources = dataclasses.replace(
        RESOURCES,
        topology=FOUR_CELLS,
        placements=(guest,),
        memory_held_bytes=RESOURCES.memory_held_bytes + 4 * GiB,
    )

    values = compute_node_values(resources, HostPolicy())

    plain = compute_node_values(RESOURCES, HostPolicy())
    # its 4 GiB are in memory_mb_used and no longer in the unused pools: free RAM is unchanged
    assert values.free_ram_mb == plain.free_ram_mb - POOLS_MB
    assert values.memory_mb_used == plain.memory_mb_used + 4096


def test_vcpus_are_the_online_cpus_of_the_shared_set_and_pcpus_a_column():
    resources = dataclasses.replace(RESOURCES, topology=TWO_SOCKETS, vcpus=16)

    values = compute_node_values(resources, HostPolicy(), SPLIT)

    assert (values.vcpus, values.pcpus, values.pcpus_used) == (8, 8, 0)
    assert compute_node_values(resources, HostPolicy()).vcpus == 16
    assert json.loads(values.numa_topology)["nova_object.data"]["cells"][0]["nova_object.data"][
        "cpuset"
    ] == [0, 1, 2, 3, 8, 9, 10, 11]


def test_host_ip_stats_and_supported_instances():
    resources = dataclasses.replace(
        RESOURCES, topology=TWO_SOCKETS, domain_states=(("paused", 1), ("running", 4))
    )

    values = compute_node_values(resources, HostPolicy(), ShapePolicy(host_ip="192.0.2.10"))

    assert values.host_ip == "192.0.2.10"
    assert json.loads(values.stats) == {
        "io_workload": 1,
        "num_instances": 5,
        "num_vm_active": 4,
        "num_vm_paused": 1,
    }
    assert json.loads(values.supported_instances)[0] == ["i686", "qemu", "hvm"]


def test_cpu_info_carries_maxphysaddr_as_nova_does():
    cpu = CpuInfo(
        "x86_64", "EPYC", "AMD", CpuTopology(1, 2, 1, 1), ("sse2",), MaxPhysAddr("emulate", 48)
    )

    values = compute_node_values(dataclasses.replace(RESOURCES, cpu_info=cpu), HostPolicy())

    assert json.loads(values.cpu_info)["maxphysaddr"] == {"mode": "emulate", "bits": 48}
    passthrough = dataclasses.replace(cpu, maxphysaddr=MaxPhysAddr("passthrough"))
    assert passthrough.as_dict()["maxphysaddr"] == {"mode": "passthrough"}
