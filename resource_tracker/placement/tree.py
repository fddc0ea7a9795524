"""The host's providers in Placement: its root with its children and, on shared storage,
the sharing provider, each kept in step by a ProviderSync of its own (its generation, its
last write, its faults said once). Every `refresh_audits` audits one GET of the root's tree
(and one of the sharing provider) tells each whether someone else changed it."""

from __future__ import annotations

from resource_tracker.placement.client import UNEXPECTED, PlacementClient, PlacementFailure
from resource_tracker.placement.records import ProviderTree, SyncOutcome
from resource_tracker.placement.sync import ProviderSync


class TreeSync:
    def __init__(self, client: PlacementClient, refresh_audits: int = 10):
        self._client = client
        self._refresh_audits = refresh_audits
        self._syncs: dict[str, ProviderSync] = {}
        self._audits = 0

    def sync(self, tree: ProviderTree, deadline: float, allocations: bool = False) -> SyncOutcome:
        """The root first (its allocations read if asked, or if it changed in Placement),
        then the sharing provider; the outcome adds theirs up (the root's fault first)."""
        wanted = {report.uuid for report in tree.providers}
        for gone in self._syncs.keys() - wanted:
            del self._syncs[gone]  # no longer reported (storage no longer shared): left as is
        before = self._client.requests
        due = self._audits > 0 and self._audits % self._refresh_audits == 0
        self._audits += 1
        if due and len(self._syncs) == len(wanted):
            failure = self._check(tree, deadline)
            if failure is not None:
                for report in tree.providers:  # read afresh once Placement answers again
                    self._syncs[report.uuid].failed(report, failure, said=report is tree.root)
                return SyncOutcome(self._client.requests - before, failure=failure.kind)
        outcomes = [
            self._of(report.uuid, report is tree.root).sync(report, deadline, allocations)
            for report in tree.providers
        ]
        root = outcomes[0]
        return SyncOutcome(
            requests=self._client.requests - before,
            wrote=any(outcome.wrote for outcome in outcomes),
            conflicts=sum(outcome.conflicts for outcome in outcomes),
            failure=next((o.failure for o in outcomes if o.failure), None),
            allocations=root.allocations,
        )

    def _check(self, tree: ProviderTree, deadline: float) -> PlacementFailure | None:
        """The generations of the tree (one GET) and of the sharing provider (one more),
        handed to each provider's sync; the fault, if Placement failed."""
        try:
            listed = self._client.request(
                "GET", f"/resource_providers?in_tree={tree.root.uuid}", deadline
            )
            generations = {
                p["uuid"]: p["generation"] for p in listed.body["resource_providers"]
            } if listed.status == 200 else {}  # fmt: skip
            if tree.shared is not None:
                shared = self._client.request(
                    "GET", f"/resource_providers/{tree.shared.uuid}", deadline
                )
                if shared.status == 200:
                    generations[tree.shared.uuid] = shared.body["generation"]
        except PlacementFailure as failure:
            return failure
        except (KeyError, TypeError, AttributeError) as error:
            return PlacementFailure(UNEXPECTED, f"an answer not understood: {error!r}")
        for report in tree.providers:
            self._syncs[report.uuid].seen(generations.get(report.uuid))
        return None

    def _of(self, uuid: str, root: bool) -> ProviderSync:
        if uuid not in self._syncs:
            self._syncs[uuid] = ProviderSync(self._client, None, watched=root)
        return self._syncs[uuid]
