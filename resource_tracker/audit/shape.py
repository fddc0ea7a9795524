"""The host's shape with its use: NUMA cells, CPU sets, pages, as the tracker reports them.

Pure: the driver's records (HostTopology, every domain's Placement) and the
operator's ShapePolicy in, CellUsage records (bytes, counts) out. nova_format.py turns them
into the columns' JSON.

CPU sets, as Nova's libvirt driver reads them:
- shared CPUs (vcpus, NUMACell.cpuset): `[compute] cpu_shared_set` (or its deprecated
  alias `[DEFAULT] vcpu_pin_set`); without it every online CPU, or none when only
  `cpu_dedicated_set` is given. Dedicated CPUs (pcpus, NUMACell.pcpuset):
  `cpu_dedicated_set`. Only online CPUs count; the daemon refuses at start-up a set naming
  others, and an audit that finds one offline later leaves it out with a warning.
- Like Nova master, a host with neither cpu_dedicated_set nor cpu_shared_set (or with
  vcpu_pin_set) reports its shared CPUs as each cell's pcpuset too, so pinned guests may
  land on it as before Nova's Train release; the pcpus column counts cpu_dedicated_set only.

Use per cell, as Nova 34's resource tracker counts it (hardware.numa_usage_from_instance_numa)
for every domain, shut-off ones included (a stopped instance keeps its claim in Nova): a guest
NUMA cell (the whole guest when its XML has none) whose memory `<numatune>` binds to host
cells puts its memory there, its pages (huge pages of `<memoryBacking>`, else the cell's
smallest) and its shared vCPUs (cpu_usage); bound to several cells (never so by Nova), it is
divided evenly among them. A guest bound nowhere (Nova's guests without NUMA cells, whose
`<vcpu cpuset>` only keeps them on the shared CPUs) uses no cell, as in Nova.

A vCPU is dedicated only where Nova's libvirt driver would have written it so
(driver._get_pin_cpuset): a `<vcpupin>` to one CPU of the cells' pcpuset (cpu_dedicated_set,
or in legacy mode the shared CPUs), that no other vCPU of the domain shares. Nova pins a
floating vCPU to its cell's whole shared set instead, which is shared use. The emulator
threads hold a CPU of their own only as `hw:emulator_threads_policy=isolate` writes them
(driver._get_emulatorpin_cpuset: an `<emulatorpin>` to one dedicated CPU that none of the
domain's vCPUs is pinned to, Nova's cpuset_reserved); `share` pins them to the shared set,
no policy to the vCPUs' own CPUs. pinned_cpus are those CPUs, with their SMT siblings where
the flavor in Nova's metadata says `hw:cpu_thread_policy=isolate` (NUMACell.
pin_cpus_with_siblings); those in cpu_dedicated_set make pcpus_used. Odd pins never fail the
audit: a pin to an offline CPU is shared use, two domains pinned to one CPU pin it once.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from resource_tracker import cpuset
from resource_tracker.resources import (
    DEFAULT_HUGE_PAGES,
    GuestNumaCell,
    HostTopology,
    NumaCell,
    Placement,
)
from resource_tracker.units import KiB

SHARED_OPTION = "[compute] cpu_shared_set"
LEGACY_SHARED_OPTION = "[DEFAULT] vcpu_pin_set"
DEDICATED_OPTION = "[compute] cpu_dedicated_set"
RESERVED_PAGES_OPTION = "[DEFAULT] reserved_huge_pages"


@dataclass(frozen=True, slots=True)
class ReservedPages:
    """`node:N,size:S,count:C` of reserved_huge_pages, the size in bytes."""

    cell: int
    size_bytes: int
    count: int


@dataclass(frozen=True, slots=True)
class ShapePolicy:
    """What the operator says about the host's shape; restart-only options."""

    shared_cpus: frozenset[int] | None = None
    dedicated_cpus: frozenset[int] | None = None
    shared_option: str = SHARED_OPTION  # the option that gave shared_cpus, for messages
    reserved_pages: tuple[ReservedPages, ...] = ()
    host_ip: str | None = None


@dataclass(frozen=True, slots=True)
class PageUsage:
    size_bytes: int
    total: int
    used: int
    reserved: int
    free: int | None  # what the kernel says is free; None where libvirt does not say


@dataclass(frozen=True, slots=True)
class CellUsage:
    id: int
    socket: int | None
    shared_cpus: frozenset[int]
    dedicated_cpus: frozenset[int]
    siblings: tuple[frozenset[int], ...]
    memory_bytes: int
    vcpus_used: int  # shared vCPUs placed on the cell
    pinned_cpus: frozenset[int]
    memory_used_bytes: int
    pages: tuple[PageUsage, ...]


@dataclass(frozen=True, slots=True)
class HostShape:
    cells: tuple[CellUsage, ...]
    vcpus: int
    pcpus: int
    pcpus_used: int
    unused_huge_page_bytes: int  # huge page pools no domain uses: closed to other guests
    problems: tuple[str, ...]  # set members that are not online, reservations that fit nothing


def host_shape(
    topology: HostTopology | None,
    placements: Sequence[Placement],
    policy: ShapePolicy,
    online_count: int,
) -> HostShape:
    """The cells with their use; `online_count` (getInfo) stands in where no cell lists CPUs."""
    topology = topology or HostTopology((), ())
    online = topology.online_cpus
    if online is None:
        online = frozenset(range(online_count))
    problems = check(topology, policy, online)
    dedicated = (policy.dedicated_cpus or frozenset()) & online
    if policy.shared_cpus is not None:
        shared = policy.shared_cpus & online
    else:
        shared = frozenset() if policy.dedicated_cpus else online
    legacy = policy.dedicated_cpus is None and (
        policy.shared_cpus is None or policy.shared_option == LEGACY_SHARED_OPTION
    )
    cell_dedicated = shared if legacy else dedicated
    siblings = {cpu: group for cell in topology.cells for group in cell.siblings for cpu in group}
    held = [held_cpus(placement, cell_dedicated, siblings) for placement in placements]
    pinned = frozenset().union(*(cpus for _vcpus, cpus in held))
    use = _Use(topology.cells, placements, [vcpus for vcpus, _cpus in held])
    reserved = {(r.cell, r.size_bytes): r.count for r in policy.reserved_pages}
    cells = tuple(
        CellUsage(
            id=cell.id,
            socket=cell.socket,
            shared_cpus=cell.cpus & shared,
            dedicated_cpus=cell.cpus & cell_dedicated,
            siblings=tuple(
                group & (shared | cell_dedicated)
                for group in cell.siblings
                if group & (shared | cell_dedicated)
            ),
            memory_bytes=cell.memory_bytes,
            vcpus_used=use.vcpus[cell.id],
            pinned_cpus=pinned & cell.cpus & cell_dedicated,
            memory_used_bytes=use.memory[cell.id],
            pages=tuple(
                PageUsage(
                    size_bytes=pool.size_bytes,
                    total=pool.total,
                    used=use.pages[cell.id, pool.size_bytes],
                    reserved=reserved.get((cell.id, pool.size_bytes), 0),
                    free=pool.free,
                )
                for pool in cell.pages
            ),
        )
        for cell in topology.cells
    )
    return HostShape(
        cells=cells,
        vcpus=online_count
        if policy.shared_cpus is None and policy.dedicated_cpus is None
        else len(shared),
        pcpus=len(dedicated),
        pcpus_used=len(pinned & dedicated),
        unused_huge_page_bytes=use.unused_huge_page_bytes(),
        problems=problems,
    )


NONE_HELD: tuple[frozenset[int], frozenset[int]] = (frozenset(), frozenset())


def held_cpus(
    placement: Placement, pcpus: frozenset[int], siblings: Mapping[int, frozenset[int]]
) -> tuple[frozenset[int], frozenset[int]]:
    """(the domain's dedicated vCPUs, the host CPUs it pins): see the module's doc."""
    pins = placement.vcpu_pins
    if not pins and not placement.emulator_pins:  # most domains: nothing pinned
        return NONE_HELD
    singles = Counter(min(cpus) for _vcpu, cpus in pins if len(cpus) == 1)
    dedicated = {
        vcpu: cpu
        for vcpu, cpus in pins
        if len(cpus) == 1 and (cpu := min(cpus)) in pcpus and singles[cpu] == 1
    }
    emulator = placement.emulator_pins
    own = frozenset().union(*(cpus for _vcpu, cpus in pins))
    reserved = emulator if len(emulator) == 1 and emulator <= pcpus - own else frozenset()
    pinned = frozenset(dedicated.values()) | reserved
    if placement.thread_isolate:
        pinned = pinned.union(*(siblings.get(cpu, ()) for cpu in pinned)) & pcpus
    return frozenset(dedicated), pinned


def check(topology: HostTopology, policy: ShapePolicy, online: frozenset[int]) -> tuple[str, ...]:
    """What the policy names that the host does not have, one line each."""
    problems = []
    for option, cpus in (
        (policy.shared_option, policy.shared_cpus),
        (DEDICATED_OPTION, policy.dedicated_cpus),
    ):
        if cpus and cpus - online:
            problems.append(
                f"{option}: CPUs {cpuset.format(cpus - online)} are offline or absent "
                f"(online: {cpuset.format(online) or 'none'})"
            )
    sizes = {(cell.id, pool.size_bytes) for cell in topology.cells for pool in cell.pages}
    for reserve in policy.reserved_pages:
        if (reserve.cell, reserve.size_bytes) not in sizes:
            problems.append(
                f"{RESERVED_PAGES_OPTION}: NUMA cell {reserve.cell} has no pages of "
                f"{reserve.size_bytes // KiB} KiB (cells: {_pages_by_cell(topology) or 'none'})"
            )
    return tuple(problems)


def _pages_by_cell(topology: HostTopology) -> str:
    return ", ".join(
        f"{cell.id}: {'/'.join(str(pool.size_bytes // KiB) for pool in cell.pages)} KiB"
        for cell in topology.cells
    )


class _Use:
    """vCPUs, memory and pages the placements take from each cell."""

    def __init__(
        self,
        cells: Sequence[NumaCell],
        placements: Sequence[Placement],
        dedicated_vcpus: Sequence[frozenset[int]],  # of each placement
    ):
        self.cells = {cell.id: cell for cell in cells}
        self.sizes = {cell.id: [pool.size_bytes for pool in cell.pages] for cell in cells}
        self.host_sizes = sorted({size for sizes in self.sizes.values() for size in sizes})
        self.vcpus: dict[int, int] = defaultdict(int)
        self.memory: dict[int, int] = defaultdict(int)
        self.pages: dict[tuple[int, int], int] = defaultdict(int)
        self.unbound_pages: dict[int, int] = defaultdict(int)  # by size: host-wide
        for placement, dedicated in zip(placements, dedicated_vcpus, strict=True):
            for guest in placement.numa:
                self._place(guest, len(guest.vcpus - dedicated))

    def _place(self, guest: GuestNumaCell, shared_vcpus: int) -> None:
        targets = sorted(guest.host_cells & self.cells.keys()) if guest.host_cells else ()
        if not targets:
            size = _page_size(guest.page_size_bytes, self.host_sizes)
            if size:
                self.unbound_pages[size] += -(-guest.memory_bytes // size)
            return
        for index, cell_id in enumerate(targets):
            memory = _share(guest.memory_bytes, len(targets), index)
            self.vcpus[cell_id] += _share(shared_vcpus, len(targets), index)
            self.memory[cell_id] += memory
            size = _page_size(guest.page_size_bytes, self.sizes[cell_id])
            if size:
                self.pages[cell_id, size] += -(-memory // size)

    def unused_huge_page_bytes(self) -> int:
        free_by_size: dict[int, int] = defaultdict(int)
        for cell in self.cells.values():
            for pool in cell.pages[1:]:  # the smallest size is the cell's ordinary memory
                free_by_size[pool.size_bytes] += pool.total - self.pages[cell.id, pool.size_bytes]
        return sum(
            max(0, free - self.unbound_pages[size]) * size for size, free in free_by_size.items()
        )


def _page_size(requested: int | None, sizes: Sequence[int]) -> int | None:
    """The page size a guest's memory takes from `sizes` (sorted): the smallest for ordinary
    pages, the next for the default huge pages."""
    if not sizes:
        return None
    if requested is None:
        return sizes[0]
    if requested == DEFAULT_HUGE_PAGES:
        return sizes[1] if len(sizes) > 1 else None
    return requested


def _share(amount: int, parts: int, index: int) -> int:
    """Part `index` of `amount` divided into `parts` whole shares, the rest to the first."""
    return amount // parts + (1 if index < amount % parts else 0)
