"""How many more guests of a flavor fit, per host and in the fleet, from the compute_nodes rows.

Per host, as Nova 34 would place them one after another (audit/fitting/): placement's
inventories with their reserves, allocation ratios and max_unit, the NUMA cells, dedicated
CPUs, huge pages, PCI devices and vGPUs of the row, and what runs out first. Only hosts
whose tracker is up take guests; a row whose JSON columns do not parse takes none (unknown
is never optimistic).

Disk, DISK_GB of root + ephemeral + swap, is counted by one of two rules (docs/capacity.md):
"least" (the default), against disk_available_least + local_gb * (disk_allocation_ratio - 1)
- the reserve, since each new guest's thin disks may grow to full size as those already
there may; or "placement", against (local_gb - reserve) * ratio - (local_gb_used - reserve).
Both counts are given per host.

Hosts that share a storage draw on one disk: in the fleet's total, what fits without the
disk on the hosts of one storage is capped once by what fits on that storage, whose room is
the least any of its up hosts reports.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from resource_tracker.audit.fitting import host as fitting_host
from resource_tracker.audit.fitting.count import Answer, how_many
from resource_tracker.audit.fitting.flavor import Request
from resource_tracker.db.models import LOCAL_STORAGE

DISK_RULES = fitting_host.DISK_RULES


class NodeRow(fitting_host.NodeRow, Protocol):
    """What capacity reads of a compute_nodes row (db.records.ComputeNode is one)."""

    @property
    def host(self) -> str: ...
    @property
    def hypervisor_hostname(self) -> str: ...
    @property
    def storage_id(self) -> str: ...


@dataclass(frozen=True, slots=True)
class HostFit:
    host: str
    hypervisor_hostname: str
    state: str
    storage_id: str
    fits: int  # 0 unless up
    limited_by: str
    never: bool  # the limit holds on the host emptied of guests too
    fits_without_disk: int  # for the fleet's count of a shared storage
    by_disk: int | None  # by DISK_GB alone, by the chosen rule; None: the flavor has no disk
    by_disk_least: int | None
    by_disk_placement: int | None

    @property
    def shared(self) -> bool:
        return not self.storage_id.startswith(LOCAL_STORAGE)


def host_fits(
    node: NodeRow, state: str, requests: Sequence[Request], disk_rule: str = "least"
) -> list[HostFit]:
    """What fits of each request on one compute node whose tracker is in `state`."""
    try:
        free = fitting_host.read(node, disk_rule)
    except (ValueError, KeyError, TypeError) as error:
        return [_none(node, state, f"the row's JSON does not read: {error!r}") for _ in requests]
    return [_fit(node, state, free, request, disk_rule) for request in requests]


def _fit(node, state, free, request: Request, disk_rule: str) -> HostFit:
    by_rule = {
        rule: _times(fitting_host.disk_room_gb(node, rule), request.disk_gb) for rule in DISK_RULES
    }
    answer, without_disk = Answer(0, f"the tracker is {state}"), 0  # down: takes nothing
    if state == "up":
        answer = how_many(free.copy(), request)
        without_disk = answer.fits
        if request.disk_gb and not node.storage_id.startswith(LOCAL_STORAGE):
            without_disk = how_many(free.copy(), dataclasses.replace(request, disk_gb=0)).fits
    return HostFit(
        host=node.host,
        hypervisor_hostname=node.hypervisor_hostname,
        state=state,
        storage_id=node.storage_id,
        fits=answer.fits,
        limited_by=answer.limited_by,
        never=answer.never,
        fits_without_disk=without_disk,
        by_disk=by_rule[disk_rule],
        by_disk_least=by_rule["least"],
        by_disk_placement=by_rule["placement"],
    )


def _none(node: NodeRow, state: str, why: str) -> HostFit:
    return HostFit(
        node.host, node.hypervisor_hostname, state, node.storage_id, 0, why, False, 0, 0, 0, 0
    )


def fleet_fit(fits: Iterable[HostFit]) -> int:
    """How many fit in the fleet: each shared storage's disk counted once for its hosts."""
    by_storage: dict[str, list[HostFit]] = {}
    for fit in fits:
        by_storage.setdefault(fit.storage_id, []).append(fit)
    total = 0
    for storage, hosts in by_storage.items():
        if storage.startswith(LOCAL_STORAGE):
            total += sum(fit.fits for fit in hosts)
            continue
        compute = sum(fit.fits_without_disk for fit in hosts)
        disks = [fit.by_disk for fit in hosts if fit.state == "up" and fit.by_disk is not None]
        total += min(compute, min(disks)) if disks else compute
    return total


def _times(room: float, need: int) -> int | None:
    """How many times `need` fits in `room`, never negative; None for no need."""
    return max(0, math.floor(room / need)) if need > 0 else None
