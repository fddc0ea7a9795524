"""What the audit hands to placement/: the host's resource provider, as this host sees it."""

from __future__ import annotations

from dataclasses import dataclass

VCPU, PCPU, MEMORY_MB, DISK_GB, VGPU = "VCPU", "PCPU", "MEMORY_MB", "DISK_GB", "VGPU"
MEM_ENCRYPTION_CONTEXT = "MEM_ENCRYPTION_CONTEXT"


@dataclass(frozen=True, slots=True)
class Inventory:
    """One resource class of a provider, with Placement's fields."""

    resource_class: str
    total: int
    reserved: int = 0
    min_unit: int = 1
    max_unit: int = 1
    step_size: int = 1
    allocation_ratio: float = 1.0

    def as_placement(self) -> dict:
        return {
            "total": self.total,
            "reserved": self.reserved,
            "min_unit": self.min_unit,
            "max_unit": self.max_unit,
            "step_size": self.step_size,
            "allocation_ratio": self.allocation_ratio,
        }


@dataclass(frozen=True, slots=True)
class ProviderReport:
    """A root provider as one audit found it.

    `traits` are those the host has; `owned_traits` every trait whose presence this daemon
    decides (set if in `traits`, else removed): a trait outside it that someone else set on
    the provider is kept. An inventory's allocation_ratio is sent as given for the classes in
    `explicit_ratios` (configured by the operator); for the others it is only the initial
    ratio, and a ratio already in Placement (set there by an operator) is kept, as Nova 34
    does with initial_*_allocation_ratio. For the classes in `kept_reserved` a reserved of 0
    is not ours to say: the one in Placement is kept (at most the total).
    """

    uuid: str
    name: str
    inventories: tuple[Inventory, ...]
    traits: frozenset[str]
    owned_traits: frozenset[str]
    explicit_ratios: frozenset[str] = frozenset()
    aggregates: frozenset[str] = frozenset()  # it is put in these (others' are kept)
    parent: str | None = None  # a child provider's parent (the root's uuid)
    kept_reserved: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class ProviderTree:
    """What the host reports: its root provider, the root's children (one per physical GPU
    offering vGPUs) and, when its instance storage is shared with other hosts, that
    storage's sharing provider (one for every host on it)."""

    root: ProviderReport
    shared: ProviderReport | None = None
    children: tuple[ProviderReport, ...] = ()  # of the root (vGPUs), after it

    @property
    def providers(self) -> tuple[ProviderReport, ...]:
        shared = () if self.shared is None else (self.shared,)
        return (self.root, *self.children, *shared)


@dataclass(frozen=True, slots=True)
class Allocation:
    """What one consumer (an instance, by its uuid) holds of the provider, by class."""

    consumer: str
    resources: tuple[tuple[str, int], ...]  # sorted by resource class

    def amount(self, *resource_classes: str) -> int:
        return sum(amount for rc, amount in self.resources if rc in resource_classes)


def allocations_from(body: dict) -> tuple[Allocation, ...]:
    """The allocations of GET /resource_providers/{uuid}/allocations, by consumer."""
    return tuple(
        Allocation(consumer, tuple(sorted(held["resources"].items())))
        for consumer, held in sorted(body["allocations"].items())
    )


@dataclass(frozen=True, slots=True)
class SyncOutcome:
    """What one report to Placement did: requests sent, whether it wrote, generation
    conflicts retried, the kind of failure that ended it (None: in sync), and the
    provider's allocations when they were asked for and read."""

    requests: int = 0
    wrote: bool = False
    conflicts: int = 0
    failure: str | None = None
    allocations: tuple[Allocation, ...] | None = None
