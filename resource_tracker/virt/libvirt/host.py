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
- cpu_info: arch, model, vendor and features from the capabilities XML; the topology from
  getInfo() (NUMA cells, and sockets per cell, cores per socket, threads per core), which
  every driver fills in, unlike the capabilities' <topology>.
"""

from __future__ import annotations

import libvirt
from lxml import etree

from resource_tracker.resources import CpuInfo, CpuTopology

KiB = 2**10
MiB = 2**20


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


def cpu_info(capabilities_xml: str, info: list) -> CpuInfo:
    cpu = etree.fromstring(capabilities_xml.encode()).find("host/cpu")
    _model, _memory, _cpus, _mhz, cells, sockets, cores, threads = info
    features = [feature.get("name") for feature in cpu.iterfind("feature")]
    features += [feature.tag for feature in cpu.iterfind("features/*")]  # older drivers' form
    return CpuInfo(
        arch=cpu.findtext("arch"),
        model=cpu.findtext("model"),
        vendor=cpu.findtext("vendor"),
        topology=CpuTopology(sockets=sockets, cores=cores, threads=threads, cells=cells),
        features=tuple(sorted(features)),
    )
