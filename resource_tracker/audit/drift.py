"""Drift between the host's allocations in Placement and its domains: what the scheduler
believes the host holds against what libvirt says it runs.

An allocation whose consumer has no domain here (an orphan: a VM deleted or moved while its
allocation stayed), a domain with no allocation (made outside the scheduler, or its
allocation lost), and a domain defined with more vCPUs or memory than it was allocated
(resized outside Nova). Allocations belong to the scheduler: they are reported, never
written. Domain and consumer are matched by uuid (Nova's instance uuid is its domain's).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from resource_tracker.placement.records import MEMORY_MB, PCPU, VCPU, Allocation
from resource_tracker.resources import GuestSize
from resource_tracker.units import MiB

LOG = logging.getLogger(__name__)

ORPHAN = "orphan allocation"
UNALLOCATED = "domain without allocation"
OVER = "domain over its allocation"
KINDS = (ORPHAN, UNALLOCATED, OVER)


@dataclass(frozen=True, slots=True, order=True)
class Drift:
    kind: str
    consumer: str  # the uuid
    detail: str

    def line(self) -> str:
        return f"{self.kind} {self.consumer}: {self.detail}"


def drift(allocations: Sequence[Allocation], guests: Sequence[GuestSize]) -> tuple[Drift, ...]:
    by_uuid = {guest.uuid: guest for guest in guests if guest.uuid}
    held = {allocation.consumer: allocation for allocation in allocations}
    found = [
        Drift(ORPHAN, consumer, f"holds {_resources(allocation)}; no domain on the host")
        for consumer, allocation in held.items()
        if consumer not in by_uuid
    ]
    for uuid, guest in by_uuid.items():
        allocation = held.get(uuid)
        if allocation is None:
            found.append(Drift(UNALLOCATED, uuid, f"domain {guest.name}: {_size(guest)}"))
            continue
        cpus, memory_mb = allocation.amount(VCPU, PCPU), allocation.amount(MEMORY_MB)
        if guest.vcpus > cpus or guest.memory_bytes // MiB > memory_mb:
            found.append(
                Drift(
                    OVER,
                    uuid,
                    f"domain {guest.name}: {_size(guest)}, allocated {cpus} vCPUs, "
                    f"{memory_mb} MiB",
                )
            )
    return tuple(sorted(found))


def counts(found: Sequence[Drift]) -> dict[str, int]:
    return {kind: sum(each.kind == kind for each in found) for kind in KINDS}


def _size(guest: GuestSize) -> str:
    return f"{guest.vcpus} vCPUs, {guest.memory_bytes // MiB} MiB"


def _resources(allocation: Allocation) -> str:
    return ", ".join(f"{rc} {amount}" for rc, amount in allocation.resources) or "nothing"


class DriftWatch:
    """When to ask for the allocations (the domains changed, or the last comparison failed;
    the reporter reads them too whenever it finds the provider changed, which a change of
    allocations makes it), and one log line per drift that appears or ends."""

    def __init__(self):
        self._guests: Sequence[GuestSize] | None = None  # as last compared
        self._known: tuple[Drift, ...] = ()

    def due(self, guests: Sequence[GuestSize]) -> bool:
        return self._guests != guests

    def compared(
        self, allocations: Sequence[Allocation] | None, guests: Sequence[GuestSize]
    ) -> tuple[Drift, ...] | None:
        """The drift of this audit (None: allocations not read, so not known)."""
        if allocations is None:
            return None
        self._guests = guests
        found = drift(allocations, guests)
        was = {(each.kind, each.consumer): each for each in self._known}
        now = {(each.kind, each.consumer): each for each in found}
        for key in sorted(now.keys() - was.keys()):
            LOG.warning("Placement drift: %s", now[key].line())
        for key in sorted(was.keys() - now.keys()):
            LOG.info("Placement drift ended: %s %s", *key)
        self._known = found
        return found
