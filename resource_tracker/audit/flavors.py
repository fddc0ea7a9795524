"""The Nova flavors of this host's domains, as their `<nova:flavor>` metadata says, for the
last-audit record (`nodes show`) and `capacity --flavor`.

Each flavor is listed once, by name, with its sizes and how many domains use it. A domain
counts apart (`without_flavor`) when it has no Nova metadata (made by another tool) or its
flavor lacks a name or a size that parsed. Nova never changes a flavor's sizes, but one can
be deleted and re-created under the same name: where domains of one name disagree, the
entry keeps the sizes most of them carry (a tie: the larger, the cautious answer for
`capacity`).
"""

from __future__ import annotations

import collections
import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from resource_tracker.resources import HostResources, NovaFlavor

SIZES = ("vcpus", "memory_mb", "disk_gb", "ephemeral_gb", "swap_mb")


@dataclass(frozen=True, slots=True, order=True)
class FlavorSeen:
    """One flavor: vCPUs, RAM in MiB, root and ephemeral disk in GiB, swap in MiB (Nova's
    flavor units), and how many of this host's domains were built from it."""

    vcpus: int
    memory_mb: int
    disk_gb: int
    ephemeral_gb: int
    swap_mb: int
    name: str = ""
    domains: int = 0

    @property
    def placement_disk_gb(self) -> int:
        """DISK_GB as Nova 34 asks placement for it (scheduler/utils.py ResourceRequest):
        root + ephemeral + swap rounded up to whole GiB (compute/utils.convert_mb_to_ceil_gb).
        A boot-from-volume instance asks no root disk; the metadata cannot tell which."""
        return self.disk_gb + self.ephemeral_gb + math.ceil(self.swap_mb / 1024)

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, **{size: getattr(self, size) for size in SIZES}} | {
            "domains": self.domains
        }

    @classmethod
    def from_json(cls, record: Mapping[str, Any]) -> FlavorSeen:
        """KeyError or TypeError if `record` is not one."""
        sizes = {size: int(record[size]) for size in SIZES}
        return cls(name=str(record["name"]), domains=int(record["domains"]), **sizes)


def seen(resources: HostResources) -> tuple[tuple[FlavorSeen, ...], int]:
    """(the flavors by name, the domains without a usable flavor)."""
    by_name: dict[str, collections.Counter[FlavorSeen]] = {}
    for domain in resources.nova_domains:
        flavor = _usable(domain.instance.flavor)
        if flavor is not None:
            by_name.setdefault(flavor.name, collections.Counter())[flavor] += 1
    flavors = []
    for _name, sizes in sorted(by_name.items()):
        most = max(sizes.items(), key=lambda item: (item[1], item[0]))[0]
        flavors.append(dataclasses.replace(most, domains=sum(sizes.values())))
    counted = sum(flavor.domains for flavor in flavors)
    return tuple(flavors), max(0, resources.instances - counted)


def _usable(flavor: NovaFlavor | None) -> FlavorSeen | None:
    if flavor is None or flavor.name is None:
        return None
    sizes = {size: getattr(flavor, size) for size in SIZES}
    if any(value is None for value in sizes.values()):
        return None
    return FlavorSeen(name=flavor.name, **sizes)
