"""How many more guests of a flavor fit on one host, and what runs out first.

Guests are placed one after another, each as Nova 34 would place the next one: placement's
flat resources (host.py) with their max_unit, then the NUMA fit (numa.py) with the PCI
requests checked for the cells it tries, then the devices taken (pci.py); after each guest
its use is added, as the scheduler's HostState.consume_from_request and the resource
tracker's claim add it. The first guest that does not fit names the limit; a flavor that
would not fit even on the host emptied of guests says why it never can.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

from resource_tracker.audit.fitting import numa, pci
from resource_tracker.audit.fitting.flavor import PAGES_SMALL, Request
from resource_tracker.audit.fitting.host import Flat, HostState
from resource_tracker.audit.fitting.numa import Placed

MAX_GUESTS = 100_000  # a bound on the loop, far above any host's room
SMALL_MEMORY = "RAM outside huge page pools (free_ram_mb)"
VGPUS = "vGPUs (VGPU)"


@dataclass(frozen=True, slots=True)
class Answer:
    fits: int
    limited_by: str
    never: bool = False  # the limit holds on the host emptied of guests too


def how_many(state: HostState, request: Request) -> Answer:
    """How many guests of `request` fit on `state` (a working copy: it is used up)."""
    never = _structural(state, request)
    if never:
        return Answer(0, never, never=True)
    if request.cells is None and not request.pci:
        return _flat_only(state, request)
    return how_many_by_placing(state, request)


def how_many_by_placing(state: HostState, request: Request) -> Answer:
    """how_many, one guest after another (what the proofs compare with)."""
    fits, never = 0, ""
    while fits < MAX_GUESTS:
        _placed, why = place(state, request)
        if why:
            if fits == 0:  # asked after, not before: Nova's order on the emptied host differs
                never = never_fits(_emptied(state), request)  # nothing placed yet
            return Answer(fits, never or why, never=bool(never))
        fits += 1
    return Answer(fits, f"stopped counting at {MAX_GUESTS}")


def place(state: HostState, request: Request) -> tuple[list[Placed] | None, str]:
    """One guest placed on `state` (its use added): (its cells or None, ""), or (None, why)."""
    short = _flat_short(state, request)
    if short:
        return None, short
    placed: list[Placed] | None = None
    if request.cells is not None:
        why: dict[int, str] = {}
        check = _pci_check(state, request) if request.pci else None
        ratios = (state.cpu_ratio, state.ram_ratio)
        placed = numa.fit(state.cells, request, ratios, pci.free_by_cell(state.pools), check, why)
        if placed is None:
            return None, "; ".join(why[cell] for cell in sorted(why)) or "NUMA cells"
    elif request.pci and not pci.supports(state.pools, request.pci, state.cells, None):
        return None, _pci_names(request)
    huge = _huge(state, placed)
    if not huge and request.memory_mb > state.small_memory:
        return None, SMALL_MEMORY
    if request.pci:
        cells = [p.host_cell for p in placed] if placed else None
        pci.apply(state.pools, request.pci, state.cells, cells)
    if placed:
        try:
            numa.use(state.cells, placed, request)
        except ValueError as error:
            return None, str(error)
    _take_flat(state, request, huge)
    return placed, ""


def _flat_only(state: HostState, request: Request) -> Answer:
    """A guest with no NUMA cells and no PCI device takes the same of each flat resource
    every time: the count placing them one by one would reach, worked out at once."""
    limits = [
        (math.floor(inventory.room / amount), name)
        for name, inventory, amount in _flat(state, request)
        if amount and inventory is not None
    ]
    if request.vgpus:
        limits.append((sum(max(0, free) // request.vgpus for free in state.vgpus), VGPUS))
    limits.append((math.floor(state.small_memory / request.memory_mb), SMALL_MEMORY))
    fits = min(count for count, _name in limits)
    if fits < 1 or _flat_short(state, request):  # max_unit, or not even one
        return how_many_by_placing(state, request)  # the loop says why
    # the first to run out in the order the loop checks them names the limit
    return Answer(fits, next(name for count, name in limits if count == fits))


def _structural(state: HostState, request: Request) -> str:
    if request.cells is not None:
        if not state.cells:
            return "needs NUMA cells; the row has no numa_topology"
        if len(request.cells) > len(state.cells):
            return f"needs {len(request.cells)} NUMA nodes; host has {len(state.cells)}"
    return ""


def never_fits(empty: HostState, request: Request) -> str:
    """Why `request` does not fit on `empty`, the host without guests (devices aside: the
    row tells only the free ones); "" if it does."""
    no_devices = dataclasses.replace(request, pci=(), vgpus=0)
    _placed, why = place(empty.copy(), no_devices)
    return why


def _flat_short(state: HostState, request: Request) -> str:
    for name, inventory, amount in _flat(state, request):
        if amount == 0:
            continue  # placement is not asked for it
        if inventory is None:
            return f"{name}: the host has none"
        if amount > inventory.max_unit:
            return f"{name}: needs {amount}; host has {inventory.max_unit} (max_unit)"
        if amount > inventory.room:
            return name
    if request.vgpus and not any(free >= request.vgpus for free in state.vgpus):
        return VGPUS
    return ""


def _flat(state: HostState, request: Request) -> list[tuple[str, Flat | None, int]]:
    """(name, inventory, amount) of each flat resource the guest takes."""
    if state.pcpu is None:  # legacy CPU sets: Nova's fallback asks VCPU for every vCPU
        cpus = [
            ("vCPUs (VCPU)", state.vcpu, request.vcpus + request.pcpus - request.emulator_isolate)
        ]
    else:
        cpus = [("vCPUs (VCPU)", state.vcpu, request.vcpus)]
        if request.pcpus:
            cpus.append(("dedicated CPUs (PCPU)", state.pcpu, request.pcpus))
    return [
        *cpus,
        ("RAM (MEMORY_MB)", state.memory, request.memory_mb),
        ("disk (DISK_GB)", state.disk, request.disk_gb),
    ]


def _take_flat(state: HostState, request: Request, huge: bool) -> None:
    for _name, inventory, amount in _flat(state, request):
        if inventory is not None:
            inventory.room -= amount
    if not huge:
        state.small_memory -= request.memory_mb
    if request.vgpus:
        index = next(i for i, free in enumerate(state.vgpus) if free >= request.vgpus)
        state.vgpus[index] -= request.vgpus


def _huge(state: HostState, placed: list[Placed] | None) -> bool:
    """Whether the guest's memory is in huge pages (each cell's page larger than its
    smallest), which the pools no domain used yet hold for it."""
    if not placed:
        return False
    smallest = {c.id: c.smallest_kb for c in state.cells}
    return all(
        p.page_size is not None
        and p.page_size != PAGES_SMALL
        and p.page_size > smallest[p.host_cell]
        for p in placed
    )


def _pci_check(state: HostState, request: Request) -> numa.PciCheck:
    def check(chosen: Sequence[Placed]) -> bool:
        cells = [placed.host_cell for placed in chosen]
        return pci.supports(state.pools, request.pci, state.cells, cells)

    return check


def _pci_names(request: Request) -> str:
    return "PCI devices (" + ", ".join(f"{r.alias}:{r.count}" for r in request.pci) + ")"


def _emptied(state: HostState) -> HostState:
    empty = state.copy()
    for cell in empty.cells:
        cell.cpu_usage = cell.memory_usage = 0
        cell.set_pinned(set())
        for pages in cell.pages:
            pages.used = 0
    for inventory in (empty.vcpu, empty.pcpu, empty.memory, empty.disk):
        if inventory is not None:
            inventory.room = inventory.capacity
    pools_mb = sum(p.total * p.size_kb for c in empty.cells for p in c.pages[1:]) // 1024
    empty.small_memory = empty.memory.capacity - pools_mb
    return empty
