"""Every domain of the host, running or shut off, read from its XML in one call each.

One getAllDomainStats(STATE) call lists the domains with their state; one XMLDesc per
domain gives the rest (vCPUs, memory, disks, and where its vCPUs and memory are placed:
`<cputune>` pins, `<numatune>`, the guest's `<cpu><numa>` cells, `<memoryBacking>` huge
pages). XMLDesc takes no job on the domain, so a guest
whose monitor is stuck does not stall it. A domain undefined between the listing and its
XMLDesc is skipped with one log line.

Domain definitions rarely change between two audits, so a DomainLister keeps each domain's
XML of the last audit and parses only the XML that differs (a string comparison costs
0.2 us, a parse 50 us or more); it forgets the domains that are gone.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass

import libvirt
from lxml import etree

from resource_tracker import cpuset
from resource_tracker.resources import (
    DEFAULT_HUGE_PAGES,
    DomainDisk,
    GuestNumaCell,
    Placement,
)
from resource_tracker.virt.driver import Activity
from resource_tracker.virt.libvirt import hostdevs

LOG = logging.getLogger(__name__)

SLOW_CALL_S = 1.0  # XMLDesc answers in microseconds; a domain slower than this is named

# libvirt always writes memory in KiB, but the schema allows any of these units.
MEMORY_UNITS = {
    "b": 1, "bytes": 1,
    "KB": 10**3, "k": 2**10, "KiB": 2**10,
    "MB": 10**6, "M": 2**20, "MiB": 2**20,
    "GB": 10**9, "G": 2**30, "GiB": 2**30,
    "TB": 10**12, "T": 2**40, "TiB": 2**40,
}  # fmt: skip

# (state, reason) pairs in which an operation is under way on the domain; with every
# shutdown in progress they make up current_workload.
_BUSY_STATES = {
    (libvirt.VIR_DOMAIN_PAUSED, reason)
    for reason in (
        libvirt.VIR_DOMAIN_PAUSED_MIGRATION,
        libvirt.VIR_DOMAIN_PAUSED_SAVE,
        libvirt.VIR_DOMAIN_PAUSED_DUMP,
        libvirt.VIR_DOMAIN_PAUSED_SNAPSHOT,
        libvirt.VIR_DOMAIN_PAUSED_SHUTTING_DOWN,
        libvirt.VIR_DOMAIN_PAUSED_STARTING_UP,
        libvirt.VIR_DOMAIN_PAUSED_POSTCOPY,
    )
} | {(libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_RUNNING_POSTCOPY)}

STATE_NAMES = {
    libvirt.VIR_DOMAIN_NOSTATE: "nostate",
    libvirt.VIR_DOMAIN_RUNNING: "running",
    libvirt.VIR_DOMAIN_BLOCKED: "blocked",
    libvirt.VIR_DOMAIN_PAUSED: "paused",
    libvirt.VIR_DOMAIN_SHUTDOWN: "shutdown",
    libvirt.VIR_DOMAIN_SHUTOFF: "shutoff",
    libvirt.VIR_DOMAIN_CRASHED: "crashed",
    libvirt.VIR_DOMAIN_PMSUSPENDED: "pmsuspended",
}


NOT_PLACED = Placement()


@dataclass(frozen=True, slots=True)
class Domain:
    """What the audit needs of one domain. Only active domains hold vCPUs and memory.

    `state` is libvirt's state name (STATE_NAMES); the XML alone tells only running or
    shutoff, the listing the rest.
    """

    name: str
    active: bool
    busy: bool
    vcpus: int
    memory_bytes: int
    disks: tuple[DomainDisk, ...]
    state: str = "shutoff"
    placement: Placement = NOT_PLACED
    uuid: str = ""
    pci_hostdevs: tuple[str, ...] = ()  # host PCI addresses assigned to it
    mdev_hostdevs: tuple[str, ...] = ()  # mediated device UUIDs assigned to it


class DomainLister:
    """Lists the host's domains at every audit, parsing only the XML that changed."""

    def __init__(self):
        self._parsed: dict[str, tuple[str, Domain]] = {}  # UUID: XML and Domain, last audit

    def list(self, conn: libvirt.virConnect, activity: Activity | None = None) -> list[Domain]:
        activity = activity or Activity()
        parsed = {}
        domains = []
        activity.note("libvirt getAllDomainStats")
        for dom, stats in conn.getAllDomainStats(libvirt.VIR_DOMAIN_STATS_STATE):
            started = activity.note("libvirt XMLDesc of domain", dom.name)
            try:
                xml = dom.XMLDesc(0)
            except libvirt.libvirtError as error:
                if error.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                    raise
                LOG.info("skipping domain %s: it was undefined during the audit", dom.name())
                continue
            took = time.monotonic() - started
            if took > SLOW_CALL_S:
                LOG.warning("domain %s was slow: XMLDesc took %.1f s", dom.name(), took)
            uuid = dom.UUIDString()
            last = self._parsed.get(uuid)
            if last is None or last[0] != xml:
                last = (xml, parse_domain(xml))  # else the new copy of the XML is dropped now
            parsed[uuid] = last
            domain = last[1]
            busy, state = _is_busy(stats), STATE_NAMES.get(stats.get("state.state"), domain.state)
            if busy or state != domain.state:
                domain = dataclasses.replace(domain, busy=busy, state=state)
            domains.append(domain)
        self._parsed = parsed
        return domains


def _is_busy(stats: dict) -> bool:
    state, reason = stats.get("state.state"), stats.get("state.reason")
    return state == libvirt.VIR_DOMAIN_SHUTDOWN or (state, reason) in _BUSY_STATES


def parse_domain(xml: str | bytes, busy: bool = False) -> Domain:
    """Read a domain's XML. A running domain's live XML carries an `id`; a shut-off one none."""
    root = etree.fromstring(xml.encode() if isinstance(xml, str) else xml)
    name = root.findtext("name")
    vcpu = root.find("vcpu")
    vcpus = int(vcpu.get("current", vcpu.text)) if vcpu is not None else 1
    memory_bytes = _memory_bytes(root.find("memory"))
    active = root.get("id") is not None
    return Domain(
        name=name,
        active=active,
        busy=busy,
        vcpus=vcpus,
        memory_bytes=memory_bytes,
        disks=tuple(_disk(name, disk) for disk in root.iterfind("devices/disk")),
        state="running" if active else "shutoff",
        placement=_placement(root, name, vcpus, memory_bytes),
        uuid=(root.findtext("uuid") or "").strip().lower(),
        pci_hostdevs=hostdevs.pci_addresses(root.find("devices")),
        mdev_hostdevs=hostdevs.mdev_uuids(root.find("devices")),
    )


def _placement(root, name: str, vcpus: int, memory_bytes: int) -> Placement:
    """Pins, NUMA binding and huge pages; an element that does not parse is left out."""
    problems: list[str] = []

    def ids(element, attribute: str) -> frozenset[int]:
        value = element.get(attribute) if element is not None else None
        if value is None:
            return frozenset()
        try:
            return cpuset.parse(value)
        except ValueError as error:
            problems.append(f"<{element.tag} {attribute}>: {error}")
            return frozenset()

    vcpu = root.find("vcpu")
    max_vcpus = _int(vcpu.text, vcpus) if vcpu is not None else vcpus
    default_pins = ids(vcpu, "cpuset")
    pins = dict.fromkeys(range(max_vcpus), default_pins) if default_pins else {}
    for pin in root.iterfind("cputune/vcpupin"):
        vcpu_id = _int(pin.get("vcpu"), None)
        if vcpu_id is not None and (cpus := ids(pin, "cpuset")):
            pins[vcpu_id] = cpus

    default_nodes = ids(root.find("numatune/memory"), "nodeset")
    nodes_by_cell = {
        _int(memnode.get("cellid"), -1): ids(memnode, "nodeset")
        for memnode in root.iterfind("numatune/memnode")
    }
    page_sizes = _page_sizes(root, problems)
    guest_cells = []
    for index, cell in enumerate(root.iterfind("cpu/numa/cell")):
        cell_id = _int(cell.get("id"), index)
        try:
            memory = int(cell.get("memory")) * MEMORY_UNITS[cell.get("unit", "KiB")]
        except (TypeError, ValueError, KeyError):
            problems.append(f"guest NUMA cell {cell_id} has no usable memory")
            continue
        guest_cells.append(
            GuestNumaCell(
                vcpus=ids(cell, "cpus"),
                memory_bytes=memory,
                host_cells=nodes_by_cell.get(cell_id) or default_nodes,
                page_size_bytes=page_sizes.get(cell_id, page_sizes.get(None)),
            )
        )
    if not guest_cells:
        guest_cells.append(
            GuestNumaCell(
                vcpus=frozenset(range(vcpus)),
                memory_bytes=memory_bytes,
                host_cells=default_nodes,
                page_size_bytes=page_sizes.get(None),
            )
        )
    if problems:
        LOG.warning("domain %s: ignoring %s", name, "; ".join(problems))
    return Placement(
        numa=tuple(guest_cells),
        vcpu_pins=tuple(sorted(pins.items())),
        emulator_pins=ids(root.find("cputune/emulatorpin"), "cpuset"),
    )


def _page_sizes(root, problems: list[str]) -> dict[int | None, int]:
    """Huge page size by guest NUMA cell (None: every cell not named) from <memoryBacking>."""
    hugepages = root.find("memoryBacking/hugepages")
    if hugepages is None:
        return {}
    sizes: dict[int | None, int] = {}
    pages = hugepages.findall("page")
    if not pages:
        return {None: DEFAULT_HUGE_PAGES}
    for page in pages:
        try:
            size = int(page.get("size")) * MEMORY_UNITS[page.get("unit", "KiB")]
            cells = cpuset.parse(page.get("nodeset")) if page.get("nodeset") else {None}
        except (TypeError, ValueError, KeyError):
            problems.append("a huge page size that does not parse")
            continue
        sizes.update(dict.fromkeys(cells, size))
    return sizes


def _int(text, default):
    try:
        return int(text)
    except (TypeError, ValueError):
        return default


def _memory_bytes(element) -> int:
    if element is None:
        return 0
    return int(element.text) * MEMORY_UNITS[element.get("unit", "KiB")]


def _disk(domain: str, element) -> DomainDisk:
    source = element.find("source")
    driver = element.find("driver")
    target = element.find("target")
    return DomainDisk(
        domain=domain,
        target=target.get("dev", "") if target is not None else "",
        source_type=element.get("type", "file"),
        device=element.get("device", "disk"),
        path=_source_path(source),
        format=driver.get("type") if driver is not None else None,
        protocol=source.get("protocol") if source is not None else None,
    )


def _source_path(source) -> str | None:
    if source is None:
        return None
    return source.get("file") or source.get("dev") or source.get("name")
