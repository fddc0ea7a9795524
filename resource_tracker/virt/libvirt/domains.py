"""Every domain of the host, running or shut off, read from its XML in one call each.

One getAllDomainStats(STATE) call lists the domains with their state; one XMLDesc per
domain gives the rest (vCPUs, memory, disks, and where its vCPUs and memory are placed:
`<cputune>` pins, `<numatune>`, the guest's `<cpu><numa>` cells, `<memoryBacking>` huge
pages, the flavor's CPU thread policy in Nova's metadata). A domain undefined between the
listing and its XMLDesc is skipped with one log line.

A domain busy with a job (a migration, a snapshot, a guest whose QEMU monitor is stuck under
another client's call) makes XMLDesc wait for that job, up to libvirt's 30 s, in libvirt 11
(9.0 answered at once). So before fetching the XML of a running domain read before,
controlInfo (which takes no job) is asked; a domain in a job keeps the definition of its
last read, is named in one INFO line, and is read again at the next audit. A domain never
read before is fetched even then: unknown is never counted as nothing, and the audit's own
time limit bounds the wait.

Domain definitions rarely change between two audits, so a DomainLister keeps each domain's
XML and what was parsed of it, and an audit fetches the XML again only when it may have
changed:
- for a domain that a domain event (EVENTS) named since its XML was fetched;
- for a domain new to the listing, or whose ID changed (it started or stopped), so state
  changes are seen even if an event was lost. A domain listed shut off has no ID (-1), so
  only running ones are asked theirs, and dom.ID() costs 0.5 us (libvirt formats the UUID
  for its debug log at every call): with ONE_CALL_IDS domains or more kept running, the
  running domains' IDs come from one listDomainsID call instead, compared with those kept,
  and each is asked only when they differ.
An idle host with events then costs one getAllDomainStats per audit (and one listDomainsID
with many domains running) and no XMLDesc call.
libvirt sends no event for some changes (in libvirt 9.0, QEMU's vCPU hot-plug;
attachDeviceFlags, setVcpusFlags or setMemoryFlags with AFFECT_CONFIG on a shut-off domain;
an external snapshot's new overlay): for those, sweep(), which the daemon calls between
audits (after each periodic one, off the audit's path), reads a round-robin share of the
domains' XML, the least recently read first, so each is read again at least every
`refresh_audits` sweeps; it keeps what it read and says which domains read differently, so
the daemon audits again soon. (A cheaper signature of these changes from getAllDomainStats'
VCPU, BALLOON and BLOCK groups was measured: on a real libvirtd at 1,000 shut-off domains it
costs more than the round robin's XMLDesc calls, bench/whole_audit.py.) A new connection
(the first, or a reconnect: events may have been missed) drops everything kept. Without
events (no event loop, as with `--once`, or a driver that refuses a subscription) every
audit fetches every domain's XML. XML that did not change is not parsed again (its digest,
kept instead of the text, 1 to 3 KB a domain, costs 3 us; a parse 50 us or more); the
domains that are gone are forgotten.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import logging
import time
from dataclasses import dataclass

import libvirt
from lxml import etree

from resource_tracker import cpuset
from resource_tracker.resources import (
    DEFAULT_HUGE_PAGES,
    DomainDisk,
    DomainSweep,
    GuestNumaCell,
    NovaInstance,
    Placement,
)
from resource_tracker.virt.driver import Activity
from resource_tracker.virt.libvirt import events, hostdevs, nova_metadata
from resource_tracker.virt.libvirt.xml import int_or, size_bytes

LOG = logging.getLogger(__name__)

SLOW_CALL_S = 1.0  # XMLDesc answers in microseconds; a domain slower than this is named

# At the default 60 s period every domain is read again at least every hour, for 1/60 of
# the XMLDesc calls of reading them all every audit. At 1,000 domains on a real libvirtd an
# XMLDesc inside an audit costs 0.1 to 0.2 ms: 30 (33 calls an audit) cost 4 to 6 ms, a
# third of the steady audit and half the floor's cost; 60 costs half that.
REFRESH_AUDITS = 60

# One listDomainsID costs a round trip to libvirtd (0.1 to 0.3 ms on a real one), as much as
# asking 200 to 600 running domains their ID one by one (0.5 us each).
ONE_CALL_IDS = 300

# The domain events after which a domain's XML may read differently: lifecycle (defined
# or updated, undefined, started, stopped, suspended, resumed, crashed, pmsuspended), a
# device hot-plugged or unplugged or its unplug failed, a tunable (vcpupin, emulatorpin,
# numatune), a block job (a copy's pivot or a commit changes a disk's source), removable
# media changed, metadata changed, a job completed (migration, backup), a memory device
# resized. Events that leave the XML as it was (I/O errors, watchdog, RTC, balloon, ...)
# are not subscribed to.
EVENTS = (
    libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE,
    libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_ADDED,
    libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED,
    libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_REMOVAL_FAILED,
    libvirt.VIR_DOMAIN_EVENT_ID_TUNABLE,
    libvirt.VIR_DOMAIN_EVENT_ID_BLOCK_JOB,
    libvirt.VIR_DOMAIN_EVENT_ID_BLOCK_JOB_2,
    libvirt.VIR_DOMAIN_EVENT_ID_DISK_CHANGE,
    libvirt.VIR_DOMAIN_EVENT_ID_METADATA_CHANGE,
    libvirt.VIR_DOMAIN_EVENT_ID_JOB_COMPLETED,
    libvirt.VIR_DOMAIN_EVENT_ID_MEMORY_DEVICE_SIZE_CHANGE,
)

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
    """What the audit needs of one domain, running or shut off (both hold what they use).

    `state` is libvirt's state name (STATE_NAMES); the XML alone tells only running or
    shutoff, the listing the rest, and whether an operation is under way (`busy`).
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
    nova: NovaInstance | None = None  # Nova's <nova:instance> metadata, where it has some


@dataclass(slots=True)
class _Read:
    """One domain as last read: its XML's digest, what was parsed of it, and when."""

    digest: bytes
    domain: Domain
    generation: int  # the ChangeLog's generation before the XML was fetched
    domain_id: int  # the domain's ID then (-1: shut off)
    sweep: int  # the number of sweeps before it was fetched
    state: tuple[int, int] | None = None  # the state and reason it was last listed in
    listed: Domain | None = None  # `domain` in that state


class DomainLister:
    """Lists the host's domains at every audit, fetching only the XML that may have changed."""

    def __init__(
        self,
        use_events: bool = True,
        refresh_audits: int = REFRESH_AUDITS,
        on_event: events.OnEvent | None = None,
    ):
        self._feed = events.Feed(
            events.DOMAIN, EVENTS, use_events, "every audit reads every domain's XML", on_event
        )
        self._refresh_audits = refresh_audits
        self._read: collections.OrderedDict[bytes, _Read] = collections.OrderedDict()
        self._sweeps = 0
        self._turns = 0.0  # round-robin reads owed, a fraction of one
        self.xml_reads = 0  # every XMLDesc since the lister was made
        self._busy: set[bytes] = set()  # domains found in a job at their last turn

    def list(self, conn: libvirt.virConnect, activity: Activity | None = None) -> list[Domain]:
        activity = activity or Activity()
        if self._feed.follow(conn):
            self._read.clear()
        changes = self._feed.changes
        generation = changes.generation if changes is not None else 0
        activity.note("libvirt getAllDomainStats")
        listed = conn.getAllDomainStats(libvirt.VIR_DOMAIN_STATS_STATE)
        ids_held = changes is not None and self._ids_held(conn, activity)
        marks = changes.marks() if changes is not None else {}
        domains, seen = [], set()
        for dom, stats in listed:
            uuid = dom.UUID()
            seen.add(uuid)
            read = self._read.get(uuid)
            state = (stats.get("state.state"), stats.get("state.reason"))
            if (
                read is None
                or changes is None
                or (not ids_held and read.domain_id != _listed_id(dom, state[0]))
                or marks.get(uuid, 0) > read.generation  # an event named it since
            ):
                if not self._kept_while_in_a_job(dom, uuid, read, changes):
                    read = self._fetch(dom, uuid, read, generation, activity)
                if read is None:
                    continue
            if read.listed is None or state != read.state:  # else the same Domain again
                read.state, read.listed = state, _as_listed(read.domain, stats)
            domains.append(read.listed)
        for uuid in self._read.keys() - seen:
            del self._read[uuid]
        if changes is not None:
            changes.forget_until(generation)  # what was marked since is read next audit
        return domains

    def _ids_held(self, conn: libvirt.virConnect, activity: Activity) -> bool:
        """Whether every domain kept still has the ID it was read with (none started or
        stopped since), from one listDomainsID call when ONE_CALL_IDS domains or more are
        kept running; False (ask each) with fewer. libvirt's QEMU and test drivers never
        give an ID twice while libvirtd runs, and a new libvirtd is a new connection, which
        drops every read: equal sets mean no ID changed. They differ after any start or
        stop, or with a running domain new to the listing."""
        kept = {read.domain_id for read in self._read.values() if read.domain_id != -1}
        if len(kept) < ONE_CALL_IDS:
            return False
        activity.note("libvirt listDomainsID")
        return set(conn.listDomainsID()) == kept

    def disconnect(self, conn: libvirt.virConnect) -> None:
        """`conn` is about to be closed: what was read on it is dropped (events may be missed
        until the next connection subscribes)."""
        self._feed.disconnect(conn)
        self._read.clear()

    def sweep(self, conn: libvirt.virConnect, activity: Activity | None = None) -> DomainSweep:
        """Read the XML of the round robin's share of the domains: 1/refresh_audits of them
        on average, and any not read in the last refresh_audits sweeps; keep what was read.
        Nothing is read on a connection the audits do not follow with events (they read
        every domain's XML, or the next one will)."""
        changes = self._feed.changes
        if changes is None or not self._feed.following(conn):
            return DomainSweep(0, ())
        activity = activity or Activity()
        self._sweeps += 1
        self._turns += len(self._read) / self._refresh_audits
        share = int(self._turns)
        self._turns -= share
        due = self._sweeps - self._refresh_audits
        turn = []
        for index, (uuid, read) in enumerate(self._read.items()):  # least recently read first
            if index >= share and read.sweep > due:
                break
            turn.append((uuid, read))
        reads, changed = self.xml_reads, []
        for uuid, last in turn:
            try:
                dom = conn.lookupByUUID(uuid)
            except libvirt.libvirtError as error:
                if error.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                    raise
                continue  # gone: the next listing forgets it
            if dom.ID() != -1 and self._in_a_job(dom):
                continue  # first in line at the next sweep
            fetched = self._fetch(dom, uuid, last, changes.generation, activity)
            if fetched is not None and fetched.digest != last.digest:
                changed.append(fetched.domain.name)
        return DomainSweep(self.xml_reads - reads, tuple(changed))

    def _kept_while_in_a_job(
        self, dom, uuid: bytes, last: _Read | None, changes: events.ChangeLog | None
    ) -> bool:
        """Whether `dom`, running since its `last` read, is in a job, which its XMLDesc would
        wait for; if so, its last read stands and it is read again next audit (marked now,
        after the audit's generation). The ID comes with the listing: no call for a domain
        never read, shut off, or started or stopped since (those are read whatever it costs)."""
        if last is None or dom.ID() == -1 or dom.ID() != last.domain_id:
            return False
        if not self._in_a_job(dom):
            return False
        if changes is not None:
            changes.mark(uuid)
        return True

    def _in_a_job(self, dom) -> bool:
        """Whether the running `dom` is in a job (controlInfo takes none); said once."""
        uuid = dom.UUID()
        try:
            control, _details, held_ms = dom.controlInfo()
        except libvirt.libvirtError:
            return False  # XMLDesc will tell what is wrong
        if control == libvirt.VIR_DOMAIN_CONTROL_OK:
            self._busy.discard(uuid)
            return False
        level = logging.DEBUG if uuid in self._busy else logging.INFO
        self._busy.add(uuid)
        LOG.log(
            level,
            "domain %s is in a job (for %.0f s): its definition as last read is kept",
            dom.name(),
            held_ms / 1000,
        )
        return True

    def _fetch(
        self, dom: libvirt.virDomain, uuid: bytes, last: _Read | None, generation: int, activity
    ) -> _Read | None:
        """Fetch one domain's XML, parsing it if it changed; None if the domain is gone."""
        started = activity.note("libvirt XMLDesc of domain", dom.name)
        self.xml_reads += 1
        try:
            xml = dom.XMLDesc(0)
        except libvirt.libvirtError as error:
            if error.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                raise
            LOG.info("skipping domain %s: it was undefined during the audit", dom.name())
            return None
        took = time.monotonic() - started
        if took > SLOW_CALL_S:
            LOG.warning("domain %s was slow: XMLDesc took %.1f s", dom.name(), took)
        digest = hashlib.blake2b(xml.encode(), digest_size=16).digest()
        unchanged = last is not None and last.digest == digest
        domain = last.domain if last is not None and unchanged else parse_domain(xml)
        read = _Read(digest, domain, generation, dom.ID(), self._sweeps)
        self._read[uuid] = read
        self._read.move_to_end(uuid)
        return read


def _listed_id(dom: libvirt.virDomain, state: int | None) -> int:
    """The domain's ID as listed: -1 if shut off, without a call (libvirt gives an inactive
    domain no ID, and lists it shut off)."""
    return -1 if state == libvirt.VIR_DOMAIN_SHUTOFF else dom.ID()


def _as_listed(domain: Domain, stats: dict) -> Domain:
    """`domain` in the state the listing gives (the XML tells only running or shut off)."""
    busy, state = _is_busy(stats), STATE_NAMES.get(stats.get("state.state"), domain.state)
    if busy or state != domain.state:
        return dataclasses.replace(domain, busy=busy, state=state)
    return domain


def _is_busy(stats: dict) -> bool:
    state, reason = stats.get("state.state"), stats.get("state.reason")
    return state == libvirt.VIR_DOMAIN_SHUTDOWN or (state, reason) in _BUSY_STATES


def parse_domain(xml: str | bytes) -> Domain:
    """Read a domain's XML. A running domain's live XML carries an `id`; a shut-off one none."""
    root = etree.fromstring(xml.encode() if isinstance(xml, str) else xml)
    name = root.findtext("name", "")
    vcpu = root.find("vcpu")
    vcpus = int(vcpu.get("current", vcpu.text or "")) if vcpu is not None else 1
    memory_bytes = _memory_bytes(root.find("memory"))
    active = root.get("id") is not None
    nova = _nova(root, name)
    return Domain(
        name=name,
        active=active,
        busy=False,
        vcpus=vcpus,
        memory_bytes=memory_bytes,
        disks=tuple(_disk(name, disk) for disk in root.iterfind("devices/disk")),
        state="running" if active else "shutoff",
        placement=_placement(root, name, vcpus, memory_bytes, nova),
        uuid=(root.findtext("uuid") or "").strip().lower(),
        pci_hostdevs=hostdevs.pci_addresses(root.find("devices")),
        mdev_hostdevs=hostdevs.mdev_uuids(root.find("devices")),
        nova=nova,
    )


def _nova(root, name: str) -> NovaInstance | None:
    """Nova's metadata; metadata that cannot be read costs only itself."""
    try:
        return nova_metadata.parse(root.find("metadata"))
    except (ValueError, TypeError, AttributeError) as error:
        LOG.warning("domain %s: ignoring its Nova metadata: %s", name, error)
        return None


def _placement(
    root, name: str, vcpus: int, memory_bytes: int, nova: NovaInstance | None
) -> Placement:
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

    pins = {}
    for pin in root.iterfind("cputune/vcpupin"):
        vcpu_id = int_or(pin.get("vcpu"), None)
        if vcpu_id is not None and (cpus := ids(pin, "cpuset")):
            pins[vcpu_id] = cpus

    default_nodes = ids(root.find("numatune/memory"), "nodeset")
    nodes_by_cell = {
        int_or(memnode.get("cellid"), -1): ids(memnode, "nodeset")
        for memnode in root.iterfind("numatune/memnode")
    }
    page_sizes = _page_sizes(root, problems)
    guest_cells = []
    for index, cell in enumerate(root.iterfind("cpu/numa/cell")):
        cell_id = int_or(cell.get("id"), index)
        try:
            memory = size_bytes(cell, "memory")
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
        thread_isolate=bool(nova and nova.flavor and nova.flavor.cpu_thread_policy == "isolate"),
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
            size = size_bytes(page, "size")
            cells = cpuset.parse(page.get("nodeset")) if page.get("nodeset") else {None}
        except (TypeError, ValueError, KeyError):
            problems.append("a huge page size that does not parse")
            continue
        sizes.update(dict.fromkeys(cells, size))
    return sizes


def _memory_bytes(element) -> int:
    return 0 if element is None else size_bytes(element)


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
