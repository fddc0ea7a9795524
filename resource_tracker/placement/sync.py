"""The host's root provider kept in step with Placement, writing only what changed.

After the first audit an idle host sends nothing: what this daemon last wrote, and the
provider's generation Placement answered, are kept; a report equal to the last one costs no
request. Every `refresh_audits` audits one GET of the provider tells whether someone else
changed it (its generation moved); only then are its inventories and traits read again.

A write carries the generation it was computed from; Placement answers 409
`placement.concurrent_update` when another writer got in between: the provider is read
again, the write computed afresh (keeping the others' traits and ratios) and sent again, at
most MAX_TRIES times. Any other failure ends this audit's report (the SQL row is already
written): it is logged once per kind of fault, and the next audit reads the provider afresh
and catches up.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any

from resource_tracker.placement.client import (
    UNEXPECTED,
    Answer,
    PlacementClient,
    PlacementFailure,
    refused,
)
from resource_tracker.placement.records import (
    Allocation,
    ProviderReport,
    SyncOutcome,
    allocations_from,
)

LOG = logging.getLogger(__name__)

MAX_TRIES = 4  # as Nova's _update_to_placement retries a conflict
CONCURRENT_UPDATE = "placement.concurrent_update"
CONFLICT = "generation conflicts"


@dataclass(frozen=True, slots=True)
class Known:
    """The provider as Placement last answered (or as our last write left it)."""

    generation: int
    inventories: dict[str, dict[str, Any]]
    traits: frozenset[str]
    aggregates: frozenset[str] = frozenset()  # read only for a provider put in some


class Conflict(Exception):
    """The generation moved under a write."""


class ProviderSync:
    def __init__(
        self, client: PlacementClient, refresh_audits: int | None = 10, watched: bool = True
    ):
        """`watched`: its allocations are compared with the domains (the root's are);
        `refresh_audits` None: its generation is checked by the caller (see seen())."""
        self._client = client
        self._refresh_audits = refresh_audits
        self._watched = watched
        self._known: Known | None = None
        self._last: ProviderReport | None = None
        self._since_read = 0
        self._failing: str | None = None
        self._conflicts, self._wrote, self._reread = 0, False, False

    def sync(
        self, report: ProviderReport, deadline: float, allocations: bool = False
    ) -> SyncOutcome:
        """Bring the provider to `report` (and read its allocations if asked); never raises
        for Placement's faults."""
        before = self._client.requests
        self._conflicts, self._wrote, self._reread = 0, False, False
        read: tuple[Allocation, ...] | None = None
        try:
            try:
                self._sync(report, deadline)
                # a provider read afresh has changed under us: allocations may have too
                if self._watched and (allocations or self._reread):
                    read = self._allocations(report, deadline)
            except (KeyError, TypeError, ValueError, AttributeError) as error:
                raise PlacementFailure(
                    UNEXPECTED, f"an answer not understood: {error!r}"
                ) from None
        except PlacementFailure as failure:
            self.failed(report, failure)
            return self._outcome(before, failure.kind)
        self._last = report
        if self._failing is not None:
            LOG.info("Placement: provider %s in step again", report.name)
            self._failing = None
        return self._outcome(before, allocations=read)

    def _outcome(
        self,
        before: int,
        failure: str | None = None,
        allocations: tuple[Allocation, ...] | None = None,
    ) -> SyncOutcome:
        requests = self._client.requests - before
        return SyncOutcome(requests, self._wrote, self._conflicts, failure, allocations)

    def _allocations(self, report: ProviderReport, deadline: float) -> tuple[Allocation, ...]:
        answer = self._get(f"/resource_providers/{report.uuid}/allocations", deadline)
        return allocations_from(answer.body)

    def _sync(self, report: ProviderReport, deadline: float) -> None:
        self._since_read += 1
        if self._last is None or self._last.uuid != report.uuid:
            self._known = None
        due = self._refresh_audits is not None and self._since_read >= self._refresh_audits
        if self._known is not None and due:
            self._check_generation(report, deadline)
        for _try in range(MAX_TRIES):
            try:
                if self._known is None:
                    self._known = self._read(report, deadline)
                self._write(report, deadline)
                return
            except Conflict:
                self._conflicts += 1
                self._known = None
        raise PlacementFailure(CONFLICT, f"the provider kept changing under {MAX_TRIES} writes")

    def failed(self, report: ProviderReport, failure: PlacementFailure, said: bool = True) -> None:
        """A fault ended the report: read the provider afresh next time; say it once a kind
        (`said` False: another provider's sync says it)."""
        self._known, self._last = None, None
        if not said:
            return
        if failure.kind != self._failing:
            LOG.warning(
                "Placement: provider %s not reported (%s): %s; the next audit tries again",
                report.name,
                failure.kind,
                failure,
            )
            self._failing = failure.kind
        else:
            LOG.debug("Placement: still failing (%s): %s", failure.kind, failure)

    def seen(self, generation: int | None) -> None:
        """The provider's generation as the caller read it (None: gone): if someone else
        changed it, the next sync reads it all again."""
        self._since_read = 0
        if self._known is not None and generation != self._known.generation:
            self._known = None

    def _check_generation(self, report: ProviderReport, deadline: float) -> None:
        path = f"/resource_providers/{report.uuid}"
        answer = self._get(path, deadline, missing_ok=True)
        self.seen(answer.body["generation"] if answer is not None else None)

    def _read(self, report: ProviderReport, deadline: float) -> Known:
        self._since_read, self._reread = 0, True
        base = f"/resource_providers/{report.uuid}"
        inventories = self._get(f"{base}/inventories", deadline, missing_ok=True)
        if inventories is None:
            return self._create(report, deadline)
        traits = self._get(f"{base}/traits", deadline)
        aggregates: frozenset[str] = frozenset()
        if report.aggregates:
            aggregates = frozenset(self._get(f"{base}/aggregates", deadline).body["aggregates"])
        return Known(
            inventories.body["resource_provider_generation"],
            dict(inventories.body["inventories"]),
            frozenset(traits.body["traits"]),
            aggregates,
        )

    def _create(self, report: ProviderReport, deadline: float) -> Known:
        body = {"uuid": report.uuid, "name": report.name}
        if report.parent is not None:
            body["parent_provider_uuid"] = report.parent
        answer = self._client.request("POST", "/resource_providers", deadline, body)
        if answer.status == 409 and self._get(
            f"/resource_providers/{report.uuid}", deadline, missing_ok=True
        ):
            raise Conflict()  # another host made it meanwhile (a sharing provider): read it
        if answer.status != 200:
            raise refused("POST", "/resource_providers", answer)
        LOG.info("Placement: created resource provider %s (%s)", report.name, report.uuid)
        return Known(answer.body["generation"], {}, frozenset())

    def _write(self, report: ProviderReport, deadline: float) -> None:
        """PUT what differs from the known provider; raise Conflict on a 409 generation."""
        known = self._known
        assert known is not None
        inventories = wanted_inventories(report, known.inventories)
        if inventories != {rc: _fields(inv) for rc, inv in known.inventories.items()}:
            self._ensure_custom(
                "resource_classes", set(inventories) - set(known.inventories), deadline
            )
            body = {"resource_provider_generation": known.generation, "inventories": inventories}
            answer = self._put(f"/resource_providers/{report.uuid}/inventories", body, deadline)
            generation = answer.body["resource_provider_generation"]
            known = dataclasses.replace(known, generation=generation, inventories=inventories)
            self._known, self._wrote = known, True
        traits = wanted_traits(report, known.traits)
        if traits != known.traits:
            self._ensure_custom("traits", traits - known.traits, deadline)
            body = {"resource_provider_generation": known.generation, "traits": sorted(traits)}
            answer = self._put(f"/resource_providers/{report.uuid}/traits", body, deadline)
            generation = answer.body["resource_provider_generation"]
            known = dataclasses.replace(known, generation=generation, traits=traits)
            self._known, self._wrote = known, True
        aggregates = known.aggregates | report.aggregates
        if aggregates != known.aggregates:
            body = {
                "resource_provider_generation": known.generation,
                "aggregates": sorted(aggregates),
            }
            answer = self._put(f"/resource_providers/{report.uuid}/aggregates", body, deadline)
            generation = answer.body["resource_provider_generation"]
            known = dataclasses.replace(known, generation=generation, aggregates=aggregates)
            self._known, self._wrote = known, True

    def _ensure_custom(self, kind: str, names: set[str] | frozenset[str], deadline: float) -> None:
        """Custom resource classes and traits exist in Placement only once made (as Nova's
        report client makes them); each is made once a process (the client remembers)."""
        for name in sorted(names):
            if not name.startswith("CUSTOM_") or (kind, name) in self._client.made:
                continue
            answer = self._client.request("PUT", f"/{kind}/{name}", deadline)
            if answer.status not in (201, 204):
                raise refused("PUT", f"/{kind}/{name}", answer)
            self._client.made.add((kind, name))

    def _get(self, path: str, deadline: float, missing_ok: bool = False) -> Any:
        answer = self._client.request("GET", path, deadline)
        if answer.status == 404 and missing_ok:
            return None
        if answer.status != 200:
            raise refused("GET", path, answer)
        return answer

    def _put(self, path: str, body: dict, deadline: float) -> Answer:
        answer = self._client.request("PUT", path, deadline, body)
        if answer.status == 409 and answer.error_code == CONCURRENT_UPDATE:
            raise Conflict()
        if answer.status != 200:
            raise refused("PUT", path, answer)
        return answer


def wanted_inventories(report: ProviderReport, placed: dict[str, dict]) -> dict[str, dict]:
    """Our inventories, each ratio not configured explicitly kept as Placement has it, and
    each reserved not ours to say (ProviderReport.kept_reserved)."""
    wanted = {}
    for inventory in report.inventories:
        fields = inventory.as_placement()
        rc = inventory.resource_class
        there = placed.get(rc)
        if there is not None and rc not in report.explicit_ratios:
            fields["allocation_ratio"] = there["allocation_ratio"]
        if there is not None and rc in report.kept_reserved and not inventory.reserved:
            fields["reserved"] = min(there["reserved"], inventory.total)
        wanted[rc] = fields
    return wanted


def wanted_traits(report: ProviderReport, placed: frozenset[str]) -> frozenset[str]:
    """Ours, and the others' that we do not decide."""
    return (placed - report.owned_traits) | report.traits


def _fields(inventory: dict) -> dict:
    keys = ("total", "reserved", "min_unit", "max_unit", "step_size", "allocation_ratio")
    return {key: inventory[key] for key in keys}
