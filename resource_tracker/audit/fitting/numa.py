"""Fit one guest's NUMA cells onto a host's, as Nova 34's hardware.numa_fit_instance_to_host.

The same steps in the same order, so the same guests fit and land in the same cells: host
cells sorted as Nova sorts them (more free memory first, then fewer used shared CPUs or more
free dedicated ones, then by free PCI devices), every permutation of them tried in turn with
its fit/no-fit cache, each guest cell checked for its page size (huge pages never
over-committed), its CPUs against the cell's sets and, for pinned guests, packed onto free
thread siblings by the thread policy (_pack_instance_onto_cores), its shared CPUs and memory
against the allocation ratios. Like Nova, a guest cell keeps what one attempt set on it (the
page size chosen, its pinning, and its id, which becomes the host cell's) for the next
attempt, and keys its fit and no-fit caches by that id: so, like Nova, a guest of several
cells can be refused on a host of more cells where another assignment would fit.

Which thread of a core is taken follows our sorted siblings (Nova iterates sets): threads of
one core are alike, so what fits next does not change. Why a guest did not fit is collected
per host cell, in words, for `limited by`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from resource_tracker.audit.fitting.flavor import (
    PAGES_ANY,
    PAGES_LARGE,
    PAGES_SMALL,
    Request,
)
from resource_tracker.audit.fitting.host import Cell

PciCheck = Callable[[Sequence["Placed"]], bool]


@dataclass(slots=True)
class Placed:
    """A guest cell as Nova's InstanceNUMACell carries it through the fit (mutable, as there)."""

    guest_id: int
    shared: frozenset[int]
    dedicated: frozenset[int]
    memory_mb: int
    page_size: int | None
    host_cell: int  # Nova's InstanceNUMACell.id: the guest cell's, then the last cell tried
    pinning: dict[int, int] = field(default_factory=dict)
    reserved: frozenset[int] = frozenset()


def guest_cells(request: Request) -> list[Placed]:
    return [
        Placed(c.id, c.shared, c.dedicated, c.memory_mb, request.page_size, c.id)
        for c in request.cells or ()
    ]


def fit(
    cells: Sequence[Cell],
    request: Request,
    ratios: tuple[float, float],
    pci_by_cell: dict[int, int] | None,
    pci_check: PciCheck | None,
    why: dict[int, str],
    pack: bool = False,
) -> list[Placed] | None:
    """The guest's cells placed, or None; `why` gets a reason per host cell that refused."""
    guest = guest_cells(request)
    if len(cells) < len(guest):
        return None
    order = list(cells)
    if len(cells) > len(guest):
        order.sort(key=lambda c: c.avail_memory, reverse=not pack)
        if request.pinned:
            order.sort(key=lambda c: len(c.free_pcpus), reverse=not pack)
        else:
            order.sort(key=lambda c: c.cpu_usage, reverse=pack)
        counts = pci_by_cell or {}
        order.sort(key=lambda c: counts.get(c.id, 0), reverse=bool(request.pci))
    refused: set[tuple[int, int]] = set()
    fitted: set[tuple[int, int]] = set()
    for permutation in itertools.permutations(order, len(guest)):
        chosen: list[Placed] = []
        for cell, wanted in zip(permutation, guest, strict=True):
            pair = (cell.id, wanted.host_cell)  # as Nova keys its caches: see the doc
            if pair in refused:
                break
            if pair in fitted:
                wanted.host_cell = cell.id
                chosen.append(wanted)
                continue
            reserve = 1 if request.emulator_isolate and not chosen else 0
            reason = _fit_cell(cell, wanted, request, ratios, reserve)
            if reason is not None:
                why.setdefault(cell.id, reason)
                refused.add(pair)
                break
            chosen.append(wanted)
            fitted.add(pair)
        if len(chosen) != len(guest):
            continue
        if pci_check is not None and not pci_check(chosen):
            for placed in chosen:
                why.setdefault(placed.host_cell, f"cell {placed.host_cell} PCI devices")
            continue
        return chosen
    return None


def _fit_cell(
    cell: Cell, wanted: Placed, request: Request, ratios: tuple[float, float], reserve: int
) -> str | None:
    """Nova's _numa_fit_instance_cell: None if it fits (and `wanted` is placed), else why."""
    memory_kb = wanted.memory_mb * 1024
    if wanted.page_size:
        size = _page_size_for(cell, wanted.page_size, memory_kb)
        if not size:
            return _pages_reason(cell, wanted.page_size)
        wanted.page_size = size
    elif cell.pages:
        if not _can_fit(cell, cell.smallest_kb, memory_kb, use_free=request.pinned):
            return f"cell {cell.id} memory"
    elif wanted.memory_mb > (cell.avail_memory if request.pinned else cell.memory_mb):
        return f"cell {cell.id} memory"  # no pages known: only pinned guests take free memory
    if request.pinned and len(wanted.dedicated) + reserve > len(cell.pcpuset):
        return f"cell {cell.id} dedicated CPUs"
    if len(wanted.shared) > len(cell.cpuset):  # a dedicated guest has no shared vCPUs
        return f"cell {cell.id} shared CPUs"
    if request.pinned:
        if len(wanted.dedicated) + reserve > len(cell.free_pcpus):
            return f"cell {cell.id} dedicated CPUs"
        if not _pack(cell, wanted, request.thread_policy, reserve):
            return f"cell {cell.id} dedicated CPUs ({request.thread_policy or 'prefer'} threads)"
    if request.cpu_policy != "dedicated":
        cpu_ratio, ram_ratio = ratios
        if cell.cpu_usage + len(wanted.shared) > len(cell.cpuset) * cpu_ratio:
            return f"cell {cell.id} shared CPUs"
        if cell.memory_usage + wanted.memory_mb > cell.memory_mb * ram_ratio:
            return f"cell {cell.id} memory"
    wanted.host_cell = cell.id
    return None


def _page_size_for(cell: Cell, requested: int, memory_kb: int) -> int | None:
    """Nova's _numa_cell_supports_pagesize_request: the size taken, largest first."""
    sizes = sorted((p.size_kb for p in cell.pages), reverse=True)
    if requested == PAGES_SMALL:
        sizes = sizes[-1:]
    elif requested == PAGES_LARGE:
        sizes = sizes[:-1]
    elif requested != PAGES_ANY:
        sizes = [requested]
    return next((size for size in sizes if _can_fit(cell, size, memory_kb)), None)


def _can_fit(cell: Cell, size_kb: int, memory_kb: int, use_free: bool = True) -> bool:
    pages = cell.pages_of(size_kb)
    if pages is None:
        return False  # Nova: MemoryPageSizeNotSupported, a cell that does not fit
    available = (pages.free if use_free else pages.total) * size_kb
    return memory_kb <= available and memory_kb % size_kb == 0


def _pages_reason(cell: Cell, requested: int) -> str:
    sizes = sorted(p.size_kb for p in cell.pages)
    if requested == PAGES_SMALL or (sizes and requested == sizes[0]):
        return f"cell {cell.id} memory"
    if requested > 0 and requested not in sizes:
        return f"cell {cell.id} has no {page_label(requested)} pages"
    if requested > 0:
        return f"cell {cell.id} huge pages ({page_label(requested)})"
    return f"cell {cell.id} huge pages"


def page_label(size_kb: int) -> str:
    for unit, scale in (("G", 1024 * 1024), ("M", 1024)):
        if size_kb % scale == 0:
            return f"{size_kb // scale}{unit}"
    return f"{size_kb}K"


def _pack(cell: Cell, wanted: Placed, thread_policy: str | None, reserve: int) -> bool:
    """Nova's _pack_instance_onto_cores; on success `wanted` holds its pinning. Nova's
    sibling_sets[n], the free threads of each core with at least n free, is _groups(n),
    walked lazily: a guest takes the first few."""
    threads_per_core = cell.threads_per_core
    most = max((n for n, count in enumerate(cell.cores_by_free) if count), default=0)
    cores = wanted.dedicated
    pinning: list[tuple[int, int]] | None = None
    reserved: set[int] | None = None
    if thread_policy == "isolate":
        if threads_per_core > most or not most:
            return False
        if threads_per_core != 1 and cell.pcpuset != cell.cpuset:
            return False  # Nova: hyperthreads and new-style CPU sets (bug #1889633)
        groups = cell.cores_with(threads_per_core)
        pinning = _pinning(1, _groups(cell, threads_per_core), groups, cores)
        reserved = _reserved(_groups(cell, 1), pinning, reserve, isolate=True)
        if not pinning or (reserve and not reserved):
            pinning, reserved = None, None
    else:
        if thread_policy == "require" and threads_per_core <= 1:
            return False
        threads = 1
        for threads in range(most, 0, -1):
            if thread_policy == "require" and threads <= 1:
                continue
            pinning = _pinning(threads, _groups(cell, threads), cell.cores_with(threads), cores)
            reserved = _reserved(_groups(cell, 1), pinning, reserve)
            if pinning is None or (reserve and not reserved):
                continue
            break
        if thread_policy != "require" and not pinning:
            singles = [[cpu] for cpu in itertools.chain(*_groups(cell, 1))]
            pinning = _pinning(threads, iter(singles), len(singles), cores)
            reserved = _reserved(iter(singles), pinning, reserve)
    if pinning is None or (reserve and not reserved):
        return False
    wanted.pinning = dict(pinning)
    wanted.host_cell = cell.id
    wanted.reserved = frozenset(reserved or ())
    return True


def _groups(cell: Cell, threads: int) -> Iterator[list[int]]:
    return (free for free in cell.core_free if len(free) >= threads)


def _pinning(threads: int, groups: Iterator[list[int]], count: int, cores: frozenset[int]):
    """Nova's _get_pinning over `count` groups."""
    if threads * count < len(cores):
        return None
    usable = itertools.chain.from_iterable(group[:threads] for group in groups)
    return list(zip(sorted(cores), usable, strict=False))


def _reserved(groups: Iterator[list[int]], pinning, reserve: int, isolate: bool = False):
    """Nova's _get_reserved: the emulator's CPUs, the first free ones off the pinning (off
    the pinned cores for `isolate`)."""
    if not pinning or not reserve:
        return None
    pinned = {cpu for _vcpu, cpu in pinning}
    if isolate:
        usable = (cpu for group in groups if not pinned.intersection(group) for cpu in group)
    else:
        usable = (cpu for group in groups for cpu in group if cpu not in pinned)
    return set(itertools.islice(usable, reserve)) or None


def use(cells: Sequence[Cell], placed: Sequence[Placed], request: Request) -> None:
    """Nova's numa_usage_from_instance_numa: the placed guest's use added to the cells;
    ValueError where Nova's claim would raise (pinning a CPU twice, or outside the cell)."""
    by_id = {cell.id: cell for cell in cells}
    for wanted in placed:
        cell = by_id[wanted.host_cell]
        size = wanted.page_size or cell.smallest_kb
        pages = cell.pages_of(size)
        if pages is not None:
            pages.used = max(0, int(pages.used + wanted.memory_mb * 1024 / size))
        cell.memory_usage += wanted.memory_mb
        cell.cpu_usage += len(wanted.shared)
        if not request.pinned:
            continue
        cpus = set(wanted.pinning.values()) | wanted.reserved
        if request.thread_policy == "isolate":
            cpus = set().union(*(group for group in cell.siblings if group & cpus))
        if cpus - cell.pcpuset or cpus & cell.pinned:
            raise ValueError(f"cell {cell.id}: Nova's claim would fail pinning {sorted(cpus)}")
        cell.pin(cpus)
