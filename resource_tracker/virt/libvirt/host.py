"""What the host has, as libvirt reports it, in bytes and counts.

Which libvirt call feeds which number, and why:

- vcpus: getInfo()[2], the number of active (online) host CPUs, which libvirt counts from
  the kernel's online CPU list; offline CPUs cannot run guests.
- memory total: nodeGetMemoryStats(ALL_CELLS)["total"] (KiB), the kernel's MemTotal.
  getInfo()[1] (MiB) is not used when stats exist: on one of our test hosts it reported
  4314 MiB, what libvirt took for one NUMA node's memory, while MemTotal was 24684084 KiB.
  Drivers without node memory stats (libvirt's test driver) fall back to getInfo()[1].
- memory used is not a host call at all: it is what active guests are entitled to, summed
  from their domain XML (see driver.py). Host-wide "total - free" would count page cache and
  the host's own processes, which reserved_host_memory_mb accounts for instead.
- cpu_info: arch, model, vendor, maxphysaddr from the capabilities XML, as Nova's libvirt
  driver reports them; the features are the full set the model implies, from
  baselineCPU(EXPAND_FEATURES) on the capabilities' <cpu> (once per connection; read-only
  connections may call it, unlike getDomainCapabilities and baselineHypervisorCPU). Where
  it fails (libvirt's test driver, a CPU without a model) or on aarch64, whose baseline
  lists no features (Nova does the same), the capabilities' explicit features. The topology
  from the capabilities' <cpu><topology> and the number of NUMA cells; sockets, cores and
  threads where the capabilities have none (the test driver) from getInfo() (sockets per
  cell, cores per socket, threads per core), but never its number of NUMA nodes, which
  would contradict a NULL numa_topology: `cells` counts the capabilities' cells, 0 for an
  empty `<topology>` (the test driver's host files) and 1 where there is no `<topology>`
  at all, exactly as Nova's _get_cpu_info writes it.
- free pages: one getFreePages call per audit for every cell and page size; drivers that do
  not answer (the test driver answers with nothing) leave the count unknown (None). Those
  of the huge page sizes also tell the driver when to read the capabilities again (a pool
  resized changes them; see driver.py).
- online CPUs: one getCPUMap call per audit (virNodeGetCPUMap, the kernel's online mask,
  as Nova's Host.get_online_cpus reads it), since libvirt 9.0's capabilities list an offline
  CPU like an online one. libvirt's test driver answers every host with the same made-up
  map (CPUs 0, 2 and 4 of 8), so there the capabilities say (all their CPUs).
"""

from __future__ import annotations

import dataclasses
import logging

import libvirt

from resource_tracker.resources import CpuInfo, CpuTopology, HostTopology
from resource_tracker.units import KiB, MiB
from resource_tracker.virt.libvirt import capabilities

LOG = logging.getLogger(__name__)


TEST_DRIVER = "TEST"  # getType() of libvirt's test driver


def online_cpus(conn: libvirt.virConnect, hypervisor_type: str) -> frozenset[int] | None:
    """The host's online CPUs; None where libvirt cannot say (see above)."""
    if hypervisor_type == TEST_DRIVER:
        return None
    try:
        _count, cpu_map, _online = conn.getCPUMap()
    except libvirt.libvirtError as error:
        if error.get_error_code() != libvirt.VIR_ERR_NO_SUPPORT:
            raise
        return None
    return frozenset(cpu for cpu, is_online in enumerate(cpu_map) if is_online)


def vcpu_count(info: list) -> int:
    return info[2]


def memory_total_bytes(conn: libvirt.virConnect, info: list) -> int:
    try:
        stats = conn.getMemoryStats(libvirt.VIR_NODE_MEMORY_STATS_ALL_CELLS)
    except libvirt.libvirtError as error:
        if error.get_error_code() != libvirt.VIR_ERR_NO_SUPPORT:
            raise
        return info[1] * MiB
    return stats["total"] * KiB


def cpu_info(caps: capabilities.Capabilities, info: list, features: tuple[str, ...]) -> CpuInfo:
    cpu = caps.cpu
    model, _memory, _cpus, _mhz, _nodes, sockets, cores, threads = info
    if cpu.sockets and cpu.cores and cpu.threads:
        sockets, cores, threads = cpu.sockets, cpu.cores, cpu.threads
    return CpuInfo(
        arch=cpu.arch or model,
        model=cpu.model,
        vendor=cpu.vendor,
        topology=CpuTopology(
            sockets=sockets,
            cores=cores,
            threads=threads,
            cells=len(caps.topology.cells) if caps.has_topology else 1,
        ),
        features=features,
        maxphysaddr=cpu.maxphysaddr,
    )


def expanded_features(conn: libvirt.virConnect, cpu: capabilities.HostCpu) -> tuple[str, ...]:
    """Every feature of the host CPU, those its model implies included (see above)."""
    if cpu.model is None or cpu.element is None or cpu.arch == "aarch64":
        return cpu.features
    try:
        answer = conn.baselineCPU([cpu.element], libvirt.VIR_CONNECT_BASELINE_CPU_EXPAND_FEATURES)
        return capabilities.baseline_features(answer)
    except (libvirt.libvirtError, ValueError) as error:
        LOG.warning(
            "cannot expand the CPU model's features (%s): cpu_info lists only the "
            "capabilities' explicit features",
            error,
        )
        return cpu.features


FreePages = dict[int, dict[int, int]]  # cell id -> page size in KiB -> free pages


def free_pages(conn: libvirt.virConnect, topology: HostTopology) -> FreePages:
    """The free count of every cell's pages, read in one call; empty where libvirt does
    not say."""
    sizes_kib = sorted({pool.size_bytes // KiB for cell in topology.cells for pool in cell.pages})
    if not sizes_kib:
        return {}
    first, last = topology.cells[0].id, topology.cells[-1].id
    try:
        return conn.getFreePages(sizes_kib, first, last - first + 1) or {}
    except libvirt.libvirtError as error:
        if error.get_error_code() != libvirt.VIR_ERR_NO_SUPPORT:
            LOG.debug("free pages unknown: %s", error.get_error_message())
        return {}


def with_free_pages(topology: HostTopology, free: FreePages) -> HostTopology:
    """`topology` with the free counts of its pages from `free`."""
    if not free:
        return topology
    cells = tuple(
        dataclasses.replace(
            cell,
            pages=tuple(
                dataclasses.replace(pool, free=free.get(cell.id, {}).get(pool.size_bytes // KiB))
                for pool in cell.pages
            ),
        )
        for cell in topology.cells
    )
    return dataclasses.replace(topology, cells=cells)


def huge_pages_free(topology: HostTopology, free: FreePages) -> tuple[int | None, ...]:
    """The free counts of every cell's huge page pools (all but its smallest, ordinary size).

    A pool resized changes them (pages are added free, only free pages can be taken away),
    so they tell when the capabilities' pool totals may be stale; a guest started or
    stopped with huge pages changes them too."""
    return tuple(
        free.get(cell.id, {}).get(pool.size_bytes // KiB)
        for cell in topology.cells
        for pool in cell.pages[1:]
    )
