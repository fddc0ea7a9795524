"""A host's free resources, read from its compute_nodes row, as a working copy to place on.

NUMA cells and PCI pools are those of the row's numa_topology and pci_stats (read by
nova_format's readers) in the shape Nova's NUMACell and PciDeviceStats keep them; the flat
resources are placement's inventories as Nova 34's libvirt driver reports them, each with
(total - reserved) * allocation_ratio as its capacity and the total as its max_unit:

- VCPU: the row's vcpus, reserve reserved_host_cpus, cpu_allocation_ratio; used: the row's
  vcpus_used less the reserve, less pcpus_used where the host has a cpu_dedicated_set (its
  pinned guests take PCPU then, not VCPU).
- PCPU: the row's pcpus (cpu_dedicated_set), ratio 1, used pcpus_used. A host without one
  (legacy: no sets, or vcpu_pin_set) has no PCPU; Nova's scheduler then asks VCPU for a
  pinned flavor instead (its fallback query, [workarounds] disable_fallback_pcpu_query off).
- MEMORY_MB: memory_mb, reserve reserved_host_memory_mb, ram_allocation_ratio. A guest
  without huge pages also needs room outside the huge page pools that no domain uses (the
  row leaves them out of free_ram_mb: README, "Huge pages and free_ram_mb"), so its room
  is that less those pools: with ratio 1, exactly free_ram_mb.
- DISK_GB: local_gb, reserve reserved_host_disk_mb in whole GiB, disk_allocation_ratio; used
  local_gb_used less the reserve ("placement"), or what disk_available_least leaves, where
  each guest's disk may grow to full size ("least", the default: see docs/capacity.md).
- VGPU: per parent device and mdev type of mdev_capacity, its `free`.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Protocol

from resource_tracker.audit import nova_format
from resource_tracker.audit.devices import Pool
from resource_tracker.audit.shape import CellUsage
from resource_tracker.units import KiB, MiB, mib_in_whole_gib

DISK_RULES = ("least", "placement")


class NodeRow(Protocol):
    """What fitting reads of a compute_nodes row (db.records.ComputeNode is one)."""

    @property
    def vcpus(self) -> int: ...
    @property
    def vcpus_used(self) -> int: ...
    @property
    def reserved_host_cpus(self) -> int | None: ...
    @property
    def cpu_allocation_ratio(self) -> float | None: ...
    @property
    def pcpus(self) -> int | None: ...
    @property
    def pcpus_used(self) -> int | None: ...
    @property
    def memory_mb(self) -> int: ...
    @property
    def memory_mb_used(self) -> int: ...
    @property
    def free_ram_mb(self) -> int | None: ...
    @property
    def reserved_host_memory_mb(self) -> int | None: ...
    @property
    def ram_allocation_ratio(self) -> float | None: ...
    @property
    def local_gb(self) -> int: ...
    @property
    def local_gb_used(self) -> int: ...
    @property
    def disk_available_least(self) -> int | None: ...
    @property
    def reserved_host_disk_mb(self) -> int | None: ...
    @property
    def disk_allocation_ratio(self) -> float | None: ...
    @property
    def numa_topology(self) -> str | None: ...
    @property
    def pci_stats(self) -> str | None: ...
    @property
    def mdev_capacity(self) -> str | None: ...


@dataclass(slots=True)
class Pages:
    size_kb: int
    total: int
    used: int
    reserved: int

    @property
    def free(self) -> int:
        return self.total - self.used - self.reserved


@dataclass(slots=True)
class Cell:
    """A host NUMA cell with its use (Nova's NUMACell), in MiB and KiB pages as stored."""

    id: int
    socket: int | None
    cpuset: frozenset[int]
    pcpuset: frozenset[int]
    siblings: tuple[frozenset[int], ...]
    memory_mb: int
    cpu_usage: int
    memory_usage: int
    pinned: set[int]
    pages: list[Pages]
    free_pcpus: set[int] = dataclasses.field(init=False)  # pcpuset - pinned, kept by pin()
    smallest_kb: int = dataclasses.field(init=False)  # the smallest page size, 0: none
    cores: tuple[tuple[int, ...], ...] = dataclasses.field(init=False)  # siblings, sorted
    threads_per_core: int = dataclasses.field(init=False)

    core_of: dict[int, int] = dataclasses.field(init=False)  # CPU: its index in cores
    core_free: list[list[int]] = dataclasses.field(init=False)  # free threads of each core
    cores_by_free: list[int] = dataclasses.field(init=False)  # how many cores have n free

    def __post_init__(self) -> None:
        self.smallest_kb = min((pages.size_kb for pages in self.pages), default=0)
        self.cores = tuple(tuple(sorted(group)) for group in self.siblings)
        self.threads_per_core = max((len(group) for group in self.siblings), default=0) or 1
        self.core_of = {cpu: index for index, core in enumerate(self.cores) for cpu in core}
        self.set_pinned(self.pinned)

    def set_pinned(self, pinned: set[int]) -> None:
        self.pinned = pinned
        self.free_pcpus = set(self.pcpuset - pinned)
        self.core_free = [[cpu for cpu in core if cpu in self.free_pcpus] for core in self.cores]
        self.cores_by_free = [0] * (self.threads_per_core + 1)
        for free in self.core_free:
            self.cores_by_free[len(free)] += 1

    def pin(self, cpus: set[int]) -> None:
        self.pinned |= cpus
        self.free_pcpus -= cpus
        for index in {self.core_of[cpu] for cpu in cpus if cpu in self.core_of}:
            self.cores_by_free[len(self.core_free[index])] -= 1
            self.core_free[index] = [cpu for cpu in self.core_free[index] if cpu not in cpus]
            self.cores_by_free[len(self.core_free[index])] += 1

    def cores_with(self, threads: int) -> int:
        """How many cores have at least `threads` free threads."""
        return sum(self.cores_by_free[threads:])

    def clone(self) -> Cell:
        twin = copy.copy(self)
        twin.pinned, twin.free_pcpus = set(self.pinned), set(self.free_pcpus)
        twin.core_free = list(self.core_free)  # its lists are replaced, never changed
        twin.cores_by_free = list(self.cores_by_free)
        twin.pages = [Pages(p.size_kb, p.total, p.used, p.reserved) for p in self.pages]
        return twin

    @property
    def avail_memory(self) -> int:
        return self.memory_mb - self.memory_usage

    def pages_of(self, size_kb: int) -> Pages | None:
        return next((pages for pages in self.pages if pages.size_kb == size_kb), None)


@dataclass(slots=True)
class Flat:
    """Room left in one of placement's inventories, and its max_unit."""

    room: float
    max_unit: int
    capacity: float  # (total - reserved) * ratio: the room of the host without guests


@dataclass(slots=True)
class HostState:
    cells: list[Cell]
    pools: list[dict[str, Any]]  # PciDeviceStats.pools: the pool's keys and tags, count
    vcpu: Flat
    pcpu: Flat | None  # None: the host reports no PCPU (legacy CPU sets)
    memory: Flat
    small_memory: float  # room for guests on ordinary pages
    disk: Flat
    vgpus: list[int] = field(default_factory=list)  # free per provider
    cpu_ratio: float = 1.0
    ram_ratio: float = 1.0

    def copy(self) -> HostState:
        """A copy to use up; the sets that never change are shared (deepcopy is slow)."""
        return dataclasses.replace(
            self,
            cells=[cell.clone() for cell in self.cells],
            pools=[dict(pool) for pool in self.pools],
            vcpu=dataclasses.replace(self.vcpu),
            pcpu=None if self.pcpu is None else dataclasses.replace(self.pcpu),
            memory=dataclasses.replace(self.memory),
            disk=dataclasses.replace(self.disk),
            vgpus=list(self.vgpus),
        )


def read(row: NodeRow, disk_rule: str = "least") -> HostState:
    """The row's free resources; ValueError if its JSON columns do not parse."""
    ratios = [_ratio(r) for r in (row.cpu_allocation_ratio, row.ram_allocation_ratio)]
    cpu_ratio, ram_ratio = ratios
    reserved_cpus = row.reserved_host_cpus or 0
    pcpus_used = row.pcpus_used or 0
    legacy = not row.pcpus
    vcpu_used = row.vcpus_used - reserved_cpus - (0 if legacy else pcpus_used)
    reserved_mb = row.reserved_host_memory_mb or 0
    memory_room = (row.memory_mb - reserved_mb) * ram_ratio - (row.memory_mb_used - reserved_mb)
    disk_reserve = _disk_reserve_gb(row)
    unused_pools = row.memory_mb - row.memory_mb_used - (row.free_ram_mb or 0)
    return HostState(
        cells=[_cell(c) for c in nova_format.read_numa_topology(_json(row.numa_topology))],
        # PciDeviceStats sorts its pools by their number of keys (stable)
        pools=sorted(
            (_pool(p) for p in nova_format.read_pci_stats(_json(row.pci_stats))), key=len
        ),
        vcpu=_flat(row.vcpus, reserved_cpus, cpu_ratio, vcpu_used),
        pcpu=None if legacy else _flat(row.pcpus or 0, 0, 1.0, pcpus_used),
        memory=_flat(row.memory_mb, reserved_mb, ram_ratio, row.memory_mb_used - reserved_mb),
        small_memory=memory_room - max(0, unused_pools),
        disk=Flat(
            disk_room_gb(row, disk_rule),
            row.local_gb,
            (row.local_gb - disk_reserve) * _ratio(row.disk_allocation_ratio),
        ),
        vgpus=[m.free for m in nova_format.read_mdev_capacity(_json(row.mdev_capacity))],
        cpu_ratio=cpu_ratio,
        ram_ratio=ram_ratio,
    )


def _flat(total: int, reserved: int, ratio: float, used: int) -> Flat:
    capacity = (total - reserved) * ratio
    return Flat(capacity - used, total, capacity)


def disk_room_gb(row: NodeRow, rule: str) -> float:
    """DISK_GB left: as placement counts it, or as disk_available_least allows."""
    reserve = _disk_reserve_gb(row)
    ratio = _ratio(row.disk_allocation_ratio)
    if rule == "placement":
        return (row.local_gb - reserve) * ratio - (row.local_gb_used - reserve)
    return (row.disk_available_least or 0) + row.local_gb * (ratio - 1) - reserve


def _disk_reserve_gb(row: NodeRow) -> int:
    return mib_in_whole_gib(row.reserved_host_disk_mb or 0)


def _cell(cell: CellUsage) -> Cell:
    return Cell(
        id=cell.id,
        socket=cell.socket,
        cpuset=cell.shared_cpus,
        pcpuset=cell.dedicated_cpus,
        siblings=cell.siblings,
        memory_mb=cell.memory_bytes // MiB,
        cpu_usage=cell.vcpus_used,
        memory_usage=cell.memory_used_bytes // MiB,
        pinned=set(cell.pinned_cpus),
        pages=[Pages(p.size_bytes // KiB, p.total, p.used, p.reserved) for p in cell.pages],
    )


def _pool(pool: Pool) -> dict[str, Any]:
    keys = {"vendor_id": pool.vendor_id, "product_id": pool.product_id}
    return dict(pool.tags) | keys | {"numa_node": pool.numa_node, "count": pool.count}


def _json(text: str | None) -> Any:
    return json.loads(text) if text else None


def _ratio(ratio: float | None) -> float:
    return 1.0 if ratio is None else ratio
