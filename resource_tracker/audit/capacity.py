"""How many more VMs of one size fit, per host and in the fleet, from the compute_nodes rows.

Per host, as a scheduler honouring the row would place them (Nova placement's arithmetic;
vcpus_used and memory_mb_used hold the reserve, as Nova's do, so it is taken out once):
- vCPUs: (vcpus - reserved_host_cpus) * cpu_allocation_ratio - (vcpus_used - reserved_host_cpus)
- RAM:   (memory_mb - reserved_host_memory_mb) * ram_allocation_ratio
         - (memory_mb_used - reserved_host_memory_mb)
- disk:  disk_available_least + local_gb * (disk_allocation_ratio - 1) - the disk reserve in
         whole GB: each new VM may grow its disk to full size, as the thin disks already
         there may (that is what disk_available_least subtracts).
Only hosts whose tracker is up count; a row without ratios counts them as 1.

Hosts that share a storage draw on one disk: in the fleet's total, what fits by vCPUs and RAM
on the hosts of one storage is capped once by what fits on that storage, whose room is the
least any of its up hosts reports.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from resource_tracker.audit.fitting import host as fitting_host
from resource_tracker.db.models import LOCAL_STORAGE
from resource_tracker.units import GiB, MiB


class NodeRow(fitting_host.NodeRow, Protocol):
    """What capacity reads of a compute_nodes row (db.models.ComputeNode is one)."""

    @property
    def host(self) -> str: ...
    @property
    def hypervisor_hostname(self) -> str: ...
    @property
    def storage_id(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Flavor:
    vcpus: int
    ram_mb: int
    disk_gb: int
    name: str | None = None  # a Nova flavor's, where the sizes are its


@dataclass(frozen=True, slots=True)
class HostFit:
    host: str
    hypervisor_hostname: str
    state: str
    storage_id: str
    by_vcpus: int
    by_ram: int
    by_disk: int | None  # None: the flavor has no disk

    @property
    def shared(self) -> bool:
        return not self.storage_id.startswith(LOCAL_STORAGE)

    @property
    def by_compute(self) -> int:
        return min(self.by_vcpus, self.by_ram) if self.state == "up" else 0

    @property
    def fits(self) -> int:
        if self.by_disk is None:
            return self.by_compute
        return min(self.by_compute, self.by_disk)


def host_fit(node: NodeRow, state: str, flavor: Flavor) -> HostFit:
    """What fits on one compute node (a compute_nodes row) whose tracker is in `state`."""
    reserved_cpus, reserved_mb = node.reserved_host_cpus or 0, node.reserved_host_memory_mb or 0
    vcpus = (node.vcpus - reserved_cpus) * _ratio(node.cpu_allocation_ratio)
    ram = (node.memory_mb - reserved_mb) * _ratio(node.ram_allocation_ratio)
    return HostFit(
        host=node.host,
        hypervisor_hostname=node.hypervisor_hostname,
        state=state,
        storage_id=node.storage_id,
        by_vcpus=_times(vcpus - (node.vcpus_used - reserved_cpus), flavor.vcpus),
        by_ram=_times(ram - (node.memory_mb_used - reserved_mb), flavor.ram_mb),
        by_disk=_times(disk_room_gb(node), flavor.disk_gb) if flavor.disk_gb else None,
    )


def disk_room_gb(node: NodeRow) -> float:
    reserve_gb = math.ceil((node.reserved_host_disk_mb or 0) * MiB / GiB)
    overcommit = node.local_gb * (_ratio(node.disk_allocation_ratio) - 1)
    return (node.disk_available_least or 0) + overcommit - reserve_gb


def fleet_fit(fits: Iterable[HostFit]) -> int:
    """How many fit in the fleet: each storage's disk counted once for the hosts on it."""
    by_storage: dict[str, list[HostFit]] = {}
    for fit in fits:
        by_storage.setdefault(fit.storage_id, []).append(fit)
    total = 0
    for hosts in by_storage.values():
        compute = sum(fit.by_compute for fit in hosts)
        disks = [fit.by_disk for fit in hosts if fit.state == "up" and fit.by_disk is not None]
        total += min(compute, min(disks)) if disks else compute
    return total


def _times(room: float, need: int) -> int:
    """How many times `need` fits in `room`: never negative."""
    if need <= 0:
        raise ValueError("a VM needs at least 1 vCPU and some RAM")
    return max(0, math.floor(room / need))


def _ratio(ratio: float | None) -> float:
    return 1.0 if ratio is None else ratio
