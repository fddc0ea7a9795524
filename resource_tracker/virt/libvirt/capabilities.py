"""The host's shape from libvirt's capabilities XML: CPU, NUMA cells, pages, guests.

Pure functions from XML text to records; the driver fetches the text on a new connection
and when the online CPUs or a huge page pool's free count changed (see driver.py).

What is odd is left out, never fatal: a cell without an id or memory, pages without a
size, a CPU without an id are skipped with a warning; a host without `<topology>` (libvirt's
test driver reading a host file) has no cells.

Which CPUs are online is what the caller says (virNodeGetCPUMap, read each audit, as Nova's
Host.get_online_cpus), when it can say: libvirt 9.0 lists an offline CPU like an online one
(`<cpu id='1' socket_id='0' die_id='0' core_id='0' siblings='1'/>`, its socket and core
made up), older libvirt lists it bare (`<cpu id='3'/>`), which is the rule used when the
caller cannot say. An offline CPU belongs to its cell; its siblings and socket are ignored.

The `<feature>`s of the capabilities' `<cpu>` are only those its model does not imply:
`baseline_features()` reads the full set from what `virConnectBaselineCPU` answers with
VIR_CONNECT_BASELINE_CPU_EXPAND_FEATURES for that `<cpu>` (allowed on a read-only
connection, as Nova's libvirt driver does it).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from lxml import etree

from resource_tracker import cpuset
from resource_tracker.resources import (
    GuestType,
    HostTopology,
    MaxPhysAddr,
    NumaCell,
    PagePool,
)
from resource_tracker.virt.libvirt.xml import int_or, size_bytes

LOG = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class HostCpu:
    """The capabilities' `<host><cpu>`; `element` is its XML, for baselineCPU."""

    arch: str | None
    model: str | None
    vendor: str | None
    sockets: int | None
    cores: int | None
    threads: int | None
    features: tuple[str, ...]
    maxphysaddr: MaxPhysAddr | None
    element: str | None


@dataclass(frozen=True, slots=True)
class Capabilities:
    cpu: HostCpu
    topology: HostTopology
    has_topology: bool = False  # a <host><topology> element, even with no cells in it


NO_CPU = HostCpu(None, None, None, None, None, None, (), None, None)


def parse(xml: str, online: frozenset[int] | None = None) -> Capabilities:
    """The capabilities XML as records, `online` the online CPUs where known (else those
    listed with siblings); XML that does not parse gives an empty host."""
    try:
        root = etree.fromstring(xml.encode())
    except (etree.XMLSyntaxError, ValueError) as error:
        LOG.warning("capabilities XML does not parse (%s): no NUMA cells or guests known", error)
        return Capabilities(NO_CPU, HostTopology((), ()))
    cpu = root.find("host/cpu")
    cells = tuple(
        cell
        for element in root.iterfind("host/topology/cells/cell")
        if (cell := _cell(element, online)) is not None
    )
    return Capabilities(
        _host_cpu(cpu) if cpu is not None else NO_CPU,
        HostTopology(tuple(sorted(cells, key=lambda cell: cell.id)), _guests(root)),
        has_topology=root.find("host/topology") is not None,
    )


def baseline_features(xml: str) -> tuple[str, ...]:
    """The features a baselineCPU answer requires (those it disables are not the host's)."""
    root = etree.fromstring(xml.encode())
    names = {
        name
        for feature in root.iterfind("feature")
        if feature.get("policy", "require") != "disable" and (name := feature.get("name"))
    }
    return tuple(sorted(names))


def _host_cpu(cpu) -> HostCpu:
    topology = cpu.find("topology")
    features = [feature.get("name") for feature in cpu.iterfind("feature")]
    features += [feature.tag for feature in cpu.iterfind("features/*")]  # older drivers' form
    physaddr = cpu.find("maxphysaddr")
    return HostCpu(
        arch=cpu.findtext("arch"),
        model=cpu.findtext("model"),
        vendor=cpu.findtext("vendor"),
        sockets=_int_attribute(topology, "sockets"),
        cores=_int_attribute(topology, "cores"),
        threads=_int_attribute(topology, "threads"),
        features=tuple(sorted(name for name in features if name)),
        maxphysaddr=MaxPhysAddr(physaddr.get("mode", ""), _int_attribute(physaddr, "bits"))
        if physaddr is not None
        else None,
        element=etree.tostring(cpu, encoding="unicode"),
    )


def _cell(element, online_cpus: frozenset[int] | None) -> NumaCell | None:
    try:
        cell_id = int(element.get("id"))
        memory_bytes = size_bytes(element.find("memory"))
    except (TypeError, ValueError, KeyError, AttributeError):
        LOG.warning("capabilities: skipping a NUMA cell without a usable id or memory")
        return None
    cpus, online, siblings, sockets = set(), set(), set(), set()
    for cpu in element.iterfind("cpus/cpu"):
        try:
            cpu_id = int(cpu.get("id"))
        except (TypeError, ValueError):
            LOG.warning("capabilities: skipping a CPU without an id in NUMA cell %d", cell_id)
            continue
        cpus.add(cpu_id)
        if cpu.get("siblings") is None if online_cpus is None else cpu_id not in online_cpus:
            continue  # offline
        online.add(cpu_id)
        try:
            siblings.add(cpuset.parse(cpu.get("siblings")))
        except (ValueError, AttributeError):  # no siblings: a bare CPU that is online now
            siblings.add(frozenset({cpu_id}))
        if cpu.get("socket_id") is not None:
            sockets.add(cpu.get("socket_id"))
    socket = int_or(sockets.pop(), None) if len(sockets) == 1 else None
    return NumaCell(
        id=cell_id,
        cpus=frozenset(cpus),
        online_cpus=frozenset(online),
        siblings=tuple(sorted({group & online for group in siblings} - {frozenset()}, key=min)),
        socket=socket,
        memory_bytes=memory_bytes,
        pages=_pages(element, cell_id),
    )


def _pages(cell, cell_id: int) -> tuple[PagePool, ...]:
    pools = {}
    for pages in cell.iterfind("pages"):
        try:
            size = size_bytes(pages, "size")
            pools[size] = PagePool(size_bytes=size, total=int(pages.text or 0))
        except (TypeError, ValueError, KeyError):
            LOG.warning("capabilities: skipping pages without a usable size in cell %d", cell_id)
    return tuple(pools[size] for size in sorted(pools))


def _guests(root) -> tuple[GuestType, ...]:
    guests: dict[GuestType, None] = {}
    for guest in root.iterfind("guest"):
        os_type, arch = guest.findtext("os_type"), guest.find("arch")
        if not os_type or arch is None or not arch.get("name"):
            continue
        for domain in arch.iterfind("domain"):
            if domain.get("type"):
                kind = GuestType(arch.get("name"), domain.get("type"), os_type)
                guests[kind] = None  # ordered, without repeats
    return tuple(guests)


def _int_attribute(element, name: str) -> int | None:
    return None if element is None else int_or(element.get(name), None)
