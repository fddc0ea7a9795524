"""What an audit takes from the host's domains: sums, counts, records, the disks to measure.

An idle host lists the same Domain records audit after audit (the lister keeps them), so
the driver works these out again only when the list differs: comparing two lists of the
same records costs their identity, going through 1,000 domains a millisecond or more.
"""

from __future__ import annotations

import collections
from collections.abc import Sequence
from dataclasses import dataclass

from resource_tracker.resources import DomainDisk, GuestSize, HostDevUse, NovaDomain, Placement
from resource_tracker.virt.libvirt.domains import Domain


@dataclass(frozen=True, slots=True)
class DomainSums:
    vcpus_used: int  # running domains'
    memory_used_bytes: int
    running_vms: int
    busy_vms: int
    vcpus_held: int  # every domain's, running or not
    memory_held_bytes: int
    placements: tuple[Placement, ...]
    domain_states: tuple[tuple[str, int], ...]
    device_users: tuple[HostDevUse, ...]
    nova_domains: tuple[NovaDomain, ...]
    guests: tuple[GuestSize, ...]
    disks: tuple[DomainDisk, ...]  # every domain's disks that name a source: to measure


def domain_sums(domains: Sequence[Domain]) -> DomainSums:
    active = [domain for domain in domains if domain.active]
    return DomainSums(
        vcpus_used=sum(domain.vcpus for domain in active),
        memory_used_bytes=sum(domain.memory_bytes for domain in active),
        running_vms=len(active),
        busy_vms=sum(domain.busy for domain in domains),
        vcpus_held=sum(domain.vcpus for domain in domains),
        memory_held_bytes=sum(domain.memory_bytes for domain in domains),
        placements=tuple(domain.placement for domain in domains),
        domain_states=tuple(sorted(collections.Counter(d.state for d in domains).items())),
        device_users=device_users(domains),
        nova_domains=tuple(
            NovaDomain(d.name, d.active, d.nova) for d in domains if d.nova is not None
        ),
        guests=tuple(GuestSize(d.uuid, d.name, d.vcpus, d.memory_bytes) for d in domains),
        disks=tuple(disk for d in domains for disk in d.disks if disk.path),
    )


def device_users(domains: Sequence[Domain]) -> tuple[HostDevUse, ...]:
    return tuple(
        HostDevUse(d.uuid, d.name, d.active, d.pci_hostdevs, d.mdev_hostdevs)
        for d in domains
        if d.pci_hostdevs or d.mdev_hostdevs
    )
