"""The provider as Placement has it, read whole (for `resource-tracker-manage placement show`):
its inventories, traits, aggregates and allocations. Reads only."""

from __future__ import annotations

from dataclasses import dataclass

from resource_tracker.placement.client import (
    UNEXPECTED,
    PlacementClient,
    PlacementFailure,
    refused,
)
from resource_tracker.placement.records import Allocation, allocations_from


@dataclass(frozen=True, slots=True)
class ProviderView:
    uuid: str
    name: str
    generation: int
    inventories: dict[str, dict]
    traits: frozenset[str]
    aggregates: frozenset[str]
    allocations: tuple[Allocation, ...]


def read_provider(client: PlacementClient, uuid: str, deadline: float) -> ProviderView | None:
    """None if Placement has no provider `uuid`; PlacementFailure for a fault."""
    base = f"/resource_providers/{uuid}"
    found = client.request("GET", base, deadline)
    if found.status == 404:
        return None
    bodies = {"": found}
    for part in ("inventories", "traits", "aggregates", "allocations"):
        bodies[part] = client.request("GET", f"{base}/{part}", deadline)
    for part, answer in bodies.items():
        if answer.status != 200:
            raise refused("GET", f"{base}/{part}".rstrip("/"), answer)
    try:
        return ProviderView(
            uuid=uuid,
            name=found.body["name"],
            generation=found.body["generation"],
            inventories=dict(bodies["inventories"].body["inventories"]),
            traits=frozenset(bodies["traits"].body["traits"]),
            aggregates=frozenset(bodies["aggregates"].body["aggregates"]),
            allocations=allocations_from(bodies["allocations"].body),
        )
    except (KeyError, TypeError, AttributeError) as error:
        raise PlacementFailure(UNEXPECTED, f"an answer not understood: {error!r}") from None


def related_providers(
    client: PlacementClient, root: ProviderView, deadline: float
) -> tuple[list[ProviderView], list[ProviderView]]:
    """The root's children, and the sharing providers of its aggregates, read whole."""
    found: dict[str, list[str]] = {"children": [], "sharing": []}
    paths = [("children", f"/resource_providers?in_tree={root.uuid}")]
    paths += [
        (
            "sharing",
            f"/resource_providers?member_of={aggregate}&required=MISC_SHARES_VIA_AGGREGATE",
        )
        for aggregate in sorted(root.aggregates)
    ]
    for kind, path in paths:
        answer = client.request("GET", path, deadline)
        if answer.status != 200:
            raise refused("GET", path, answer)
        try:
            uuids = [p["uuid"] for p in answer.body["resource_providers"]]
        except (KeyError, TypeError) as error:
            raise PlacementFailure(UNEXPECTED, f"an answer not understood: {error!r}") from None
        found[kind] += [uuid for uuid in uuids if uuid != root.uuid and uuid not in found[kind]]
    views = {
        kind: [view for uuid in uuids if (view := read_provider(client, uuid, deadline))]
        for kind, uuids in found.items()
    }
    return views["children"], views["sharing"]
