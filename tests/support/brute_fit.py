"""Does one more guest fit? Decided the slow, obvious way, independently of audit/fitting.

The host is read from the row's JSON here (not through nova_format's readers), the guest
from the plain facts of fitting_cases.Wanted (not from extra specs). Then every assignment
is tried: each injective map of the guest's cells to host cells, for each cell every page
size the request allows and every set of free dedicated CPUs for its pinned vCPUs (and the
emulator threads' own CPU) that the thread policy allows, and the PCI devices the NUMA
affinity policy allows for the cells chosen. The rules an assignment must keep are Nova
34's, stated plainly:

- pages: a huge page request takes free pages (total - used - reserved) of one size, the
  memory a whole number of them; no request: the smallest size, free pages for pinned
  guests, all pages (over-commit) for the others.
- dedicated CPUs: distinct free CPUs of the cell's dedicated set (Nova's packing: a cell
  of a mixed guest with no dedicated vCPU fits under `prefer` only, or `require` beside a
  core with two free threads, and never with the emulator's own CPU). `isolate`: each on its
  own core whose threads (as many as the cell's largest core has) are all free, and on a
  host with CPU sets only where cores have one thread. `require`: for some k >= 2, k
  threads of a core each, but one core with fewer, on cores with k free threads. The
  emulator's own CPU (guest cell 0): any other free dedicated CPU, off the vCPUs' cores for
  `isolate`.
- shared CPUs and memory, for guests not wholly dedicated: within the cell's allocation
  ratios (cpu_usage + shared vCPUs <= shared CPUs * cpu ratio; memory likewise).
- PCI: `count` devices of pools matching the alias, no PF unless asked, on the guest's
  cells (required, or any policy when they have enough), else on those and no node
  (legacy, or preferred when they have enough), else anywhere (preferred, or a guest
  without NUMA cells), or on the cells of the guest's sockets (socket, when every cell's
  socket is known). As in Nova, "enough" counts PFs too, which are dropped after.
- flat: placement's VCPU, PCPU, MEMORY_MB and DISK_GB rooms with max_unit, and room outside
  unused huge page pools for a guest on ordinary pages.

`fits` answers whether one exists; `accepts` checks one placement given as audit/fitting's
Placed cells.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass

from tests.support.fitting_cases import ALIAS_IDS, Wanted


@dataclass
class HostCell:
    id: int
    socket: int | None
    cpuset: frozenset[int]
    pcpuset: frozenset[int]
    cores: list[frozenset[int]]
    memory: int
    memory_usage: int
    cpu_usage: int
    pinned: frozenset[int]
    pages: dict[int, tuple[int, int]]  # size KiB: (free, total)

    @property
    def free(self) -> frozenset[int]:
        return self.pcpuset - self.pinned


@dataclass
class GuestCell:
    shared: int
    dedicated: int
    memory: int


def host_cells(row) -> list[HostCell]:
    if not row.numa_topology:
        return []
    cells = []
    for item in json.loads(row.numa_topology)["nova_object.data"]["cells"]:
        c = item["nova_object.data"]
        pages = {}
        for page in (p["nova_object.data"] for p in c["mempages"]):
            free = page["total"] - page["used"] - page["reserved"]
            pages[page["size_kb"]] = (free, page["total"])
        cells.append(
            HostCell(
                c["id"], c["socket"], frozenset(c["cpuset"]), frozenset(c["pcpuset"]),
                [frozenset(s) for s in c["siblings"]], c["memory"], c["memory_usage"],
                c["cpu_usage"], frozenset(c["pinned_cpus"]), pages,
            )
        )  # fmt: skip
    return cells


def guest_cells(wanted: Wanted) -> list[GuestCell]:
    nodes = wanted.nodes or 1
    per = wanted.vcpus // nodes
    cells = []
    for n in range(nodes):
        cpus = set(range(n * per, (n + 1) * per))
        dedicated = len(cpus & wanted.dedicated)
        cells.append(GuestCell(len(cpus) - dedicated, dedicated, wanted.ram_mb // nodes))
    return cells


def _page_options(cell: HostCell, guest: GuestCell, wanted: Wanted) -> list[int]:
    """The page sizes this guest cell may take in this host cell (0: no pages known)."""
    memory_kb = guest.memory * 1024
    sizes = sorted(cell.pages)
    if not sizes:
        return (
            [0]
            if guest.memory
            <= (cell.memory - cell.memory_usage if wanted.dedicated else cell.memory)
            else []
        )
    allowed = {
        None: sizes[:1], "small": sizes[:1], "large": sizes[1:], "any": sizes,
    }.get(wanted.page, [wanted.page])  # fmt: skip
    options = []
    for size in allowed:
        if size not in cell.pages or memory_kb % size:
            continue
        free, total = cell.pages[size]
        pages = total if wanted.page is None and not wanted.dedicated else free
        if memory_kb <= pages * size:
            options.append(size)
    return options


def _threads(cell: HostCell) -> int:
    return max((len(core) for core in cell.cores), default=0) or 1


def _cpu_options(cell: HostCell, guest: GuestCell, wanted: Wanted, reserve: int):
    """Every (pinned CPUs, emulator CPUs) this guest cell may take in this host cell."""
    if not wanted.dedicated:
        yield frozenset(), frozenset()
        return
    free = sorted(cell.free)
    core_of = {cpu: i for i, core in enumerate(cell.cores) for cpu in core}
    threads = _threads(cell)
    if not guest.dedicated:  # a mixed guest's cell of shared vCPUs only
        if reserve or wanted.threads == "isolate":
            return  # Nova's packing finds nothing to pin, so no CPU for the emulator either
        if wanted.threads == "require" and not any(len(c & cell.free) >= 2 for c in cell.cores):
            return
        yield frozenset(), frozenset()
        return
    for chosen in itertools.combinations(free, guest.dedicated):
        pinned = frozenset(chosen)
        if not _policy_allows(cell, pinned, core_of, threads, wanted.threads):
            continue
        if not reserve:
            yield pinned, frozenset()
            continue
        used_cores = {core_of[cpu] for cpu in pinned}
        for extra in free:
            if extra in pinned:
                continue
            if wanted.threads == "isolate" and core_of.get(extra) in used_cores:
                continue
            yield pinned, frozenset({extra})


def _policy_allows(cell, pinned, core_of, threads, policy) -> bool:
    if policy == "isolate":
        if threads > 1 and cell.pcpuset != cell.cpuset:
            return False
        used = [core_of.get(cpu) for cpu in pinned]
        if None in used or len(set(used)) != len(used):
            return False
        return all(len(cell.cores[i]) == threads and cell.cores[i] <= cell.free for i in used)
    if policy == "require":
        per_core: dict[int, int] = {}
        for cpu in pinned:
            per_core[core_of[cpu]] = per_core.get(core_of[cpu], 0) + 1
        for k in range(2, threads + 1):
            if all(len(cell.cores[i] & cell.free) >= k for i in per_core):
                short = [n for n in per_core.values() if n != k]
                if all(n <= k for n in per_core.values()) and len(short) <= 1:
                    return True
        return False
    return all(cpu in core_of for cpu in pinned)


def _shared_ok(cell: HostCell, guest: GuestCell, wanted: Wanted, row) -> bool:
    if guest.shared > len(cell.cpuset):
        return False
    if wanted.policy == "dedicated":
        return True
    cpu_ok = cell.cpu_usage + guest.shared <= len(cell.cpuset) * row.cpu_allocation_ratio
    return cpu_ok and cell.memory_usage + guest.memory <= cell.memory * row.ram_allocation_ratio


def _cell_options(cell, guest, wanted, row, reserve):
    """Every way one guest cell fits in one host cell: (page size, pinned, emulator)."""
    if wanted.dedicated and guest.dedicated + reserve > len(cell.pcpuset):
        return []
    if not _shared_ok(cell, guest, wanted, row):
        return []
    pages = _page_options(cell, guest, wanted)
    if not pages:
        return []
    cpus = list(_cpu_options(cell, guest, wanted, reserve))
    return [(size, pinned, emulator) for size in pages for pinned, emulator in cpus]


def _pci_ok(row, cells: list[HostCell], chosen: list[int] | None, wanted: Wanted) -> bool:
    if not wanted.pci:
        return True
    alias, count, policy = wanted.pci
    vendor, product, dev_type = ALIAS_IDS[alias]
    pools = [
        p["nova_object.data"] for p in json.loads(row.pci_stats)["nova_object.data"]["objects"]
    ]
    matching = [
        p for p in pools
        if p["vendor_id"] == vendor and p["product_id"] == product
        and (dev_type is None or p["tags"].get("dev_type") == dev_type)
    ]  # fmt: skip

    def on(nodes, with_pfs: bool = True) -> int:
        return sum(
            p["count"]
            for p in matching
            if (nodes is None or p["numa_node"] in nodes)
            and (with_pfs or p["tags"].get("dev_type") != "type-PF")
        )

    nodes = None  # which devices the policy allows; the level is chosen counting PFs too
    if chosen is not None:
        if policy == "required" or on(set(chosen)) >= count:
            nodes = set(chosen)
        elif policy == "socket":
            if any(c.socket is None for c in cells):
                return False
            sockets = {c.socket for c in cells if c.id in chosen}
            nodes = {c.id for c in cells if c.socket in sockets}
        elif policy == "legacy" or on({*chosen, None}) >= count:
            nodes = {*chosen, None}
    return on(nodes, with_pfs=False) >= count


def _flat_ok(row, wanted: Wanted, huge: bool) -> bool:
    dedicated = len(wanted.dedicated) + wanted.emulator_isolate
    legacy = not row.pcpus
    needs = []
    vcpu_used = row.vcpus_used - (row.reserved_host_cpus or 0) - (0 if legacy else row.pcpus_used)
    vcpu_cap = (row.vcpus - (row.reserved_host_cpus or 0)) * row.cpu_allocation_ratio
    shared = wanted.vcpus if legacy else wanted.vcpus - len(wanted.dedicated)
    needs.append((shared, vcpu_cap - vcpu_used, row.vcpus))
    if not legacy:
        needs.append((dedicated, row.pcpus - row.pcpus_used, row.pcpus))
    reserved = row.reserved_host_memory_mb or 0
    memory_room = (row.memory_mb - reserved) * row.ram_allocation_ratio - (
        row.memory_mb_used - reserved
    )
    needs.append((wanted.ram_mb, memory_room, row.memory_mb))
    disk_reserve = math.ceil((row.reserved_host_disk_mb or 0) / 1024)
    disk_room = row.disk_available_least + row.local_gb * (row.disk_allocation_ratio - 1)
    needs.append((wanted.disk_gb, disk_room - disk_reserve, row.local_gb))
    if not huge:
        unused_pools = row.memory_mb - row.memory_mb_used - row.free_ram_mb
        needs.append((wanted.ram_mb, memory_room - max(0, unused_pools), row.memory_mb))
    return all(need == 0 or (need <= most and need <= room) for need, room, most in needs)


def fits(row, wanted: Wanted) -> bool:
    cells = host_cells(row)
    if not wanted.numa:
        return _flat_ok(row, wanted, huge=False) and _pci_ok(row, cells, None, wanted)
    guests = guest_cells(wanted)
    for chosen in itertools.permutations(cells, len(guests)):
        options = []
        for index, (cell, guest) in enumerate(zip(chosen, guests, strict=True)):
            reserve = 1 if wanted.emulator_isolate and index == 0 else 0
            options.append(_cell_options(cell, guest, wanted, row, reserve))
        if not all(options):
            continue
        if not _pci_ok(row, cells, [c.id for c in chosen], wanted):
            continue
        smallest = [min(c.pages) if c.pages else 0 for c in chosen]
        for picks in itertools.product(*options):
            huge = all(size > small for (size, _, _), small in zip(picks, smallest, strict=True))
            if _flat_ok(row, wanted, huge):
                return True
    return False


def accepts(row, wanted: Wanted, placed) -> bool:
    """Whether a placement (audit/fitting's Placed cells, None for a guest without NUMA
    cells) keeps every rule above."""
    cells = {c.id: c for c in host_cells(row)}
    if not wanted.numa:
        return placed is None and fits(row, wanted)
    guests = guest_cells(wanted)
    if placed is None or len(placed) != len(guests):
        return False
    if len({p.host_cell for p in placed}) != len(placed):
        return False
    huge = True
    for index, (p, guest) in enumerate(zip(placed, guests, strict=True)):
        cell = cells.get(p.host_cell)
        if cell is None:
            return False
        reserve = 1 if wanted.emulator_isolate and index == 0 else 0
        size = p.page_size or (min(cell.pages) if cell.pages else 0)  # None: the smallest
        pick = (size, frozenset(p.pinning.values()), frozenset(p.reserved))
        if not wanted.dedicated:
            pick = (pick[0], frozenset(), frozenset())
        if pick not in _cell_options(cell, guest, wanted, row, reserve):
            return False
        huge = huge and pick[0] > (min(cell.pages) if cell.pages else 0)
    chosen = [p.host_cell for p in placed]
    return _pci_ok(row, list(cells.values()), chosen, wanted) and _flat_ok(row, wanted, huge)
