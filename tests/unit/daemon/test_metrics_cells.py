"""Per-cell Prometheus gauges: the numbers of numa_topology, labelled by cell and page size."""

from __future__ import annotations

import dataclasses

from prometheus_client import generate_latest

from resource_tracker.audit.shape import host_shape
from resource_tracker.audit.tracker import AuditResult, HostPolicy, compute_node_values
from resource_tracker.daemon.metrics import Metrics
from resource_tracker.resources import PagePool
from resource_tracker.virt.libvirt.domains import parse_domain
from tests.unit.audit.test_shape import SPLIT, TWO_SOCKETS
from tests.unit.audit.test_tracker import RESOURCES
from tests.unit.virt.libvirt.test_domain_placement import PINNED


def scrape(metrics: Metrics) -> set[str]:
    return set(generate_latest(metrics.registry).decode().splitlines())


def audited(topology) -> AuditResult:
    shape = host_shape(topology, [parse_domain(PINNED).placement], SPLIT, 16)
    values = compute_node_values(RESOURCES, HostPolicy(), SPLIT, shape)
    return AuditResult("compute-1", RESOURCES, values, True, 0.01, shape)


def test_cells_and_pages_are_labelled_gauges():
    metrics = Metrics()
    cell = TWO_SOCKETS.cells[1]
    with_free = dataclasses.replace(
        cell, pages=(*cell.pages[:1], PagePool(2**21, 512, free=500), *cell.pages[2:])
    )
    topology = dataclasses.replace(TWO_SOCKETS, cells=(TWO_SOCKETS.cells[0], with_free))

    metrics.audit_succeeded(audited(topology), interval_s=60)

    lines = scrape(metrics)
    assert {
        "resource_tracker_vcpus 8.0",  # the row's: the shared set, not the 64 CPUs online
        "resource_tracker_vcpus_used 20.0",  # the active domains', pinned ones too
        "resource_tracker_running_vms 5.0",  # not the shut-off domain the row counts
        "resource_tracker_pcpus 8.0",
        "resource_tracker_pcpus_used 5.0",
        'resource_tracker_numa_cpus{cell="0"} 8.0',
        'resource_tracker_numa_pcpus{cell="1"} 8.0',
        'resource_tracker_numa_pcpus_pinned{cell="1"} 5.0',
        'resource_tracker_numa_memory_used_bytes{cell="0"} 6.442450944e+09',
        'resource_tracker_numa_pages{cell="1",page_size_bytes="2097152"} 512.0',
        'resource_tracker_numa_pages_used{cell="0",page_size_bytes="2097152"} 3072.0',
        'resource_tracker_numa_pages_free{cell="1",page_size_bytes="2097152"} 500.0',
    } <= lines
    # free pages only where libvirt said
    assert not any(line.startswith('resource_tracker_numa_pages_free{cell="0"') for line in lines)


def test_a_cell_gone_since_the_last_audit_leaves_no_gauge():
    metrics = Metrics()
    metrics.audit_succeeded(audited(TWO_SOCKETS), interval_s=60)
    one_cell = dataclasses.replace(TWO_SOCKETS, cells=TWO_SOCKETS.cells[:1])

    metrics.audit_succeeded(audited(one_cell), interval_s=60)

    assert not any('cell="1"' in line for line in scrape(metrics))
