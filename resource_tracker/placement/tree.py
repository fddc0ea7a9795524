"""The host's providers in Placement: its root and, on shared storage, the sharing
provider, each kept in step by a ProviderSync of its own (its generation, its last write,
its faults said once)."""

from __future__ import annotations

from resource_tracker.placement.client import PlacementClient
from resource_tracker.placement.records import ProviderTree, SyncOutcome
from resource_tracker.placement.sync import ProviderSync


class TreeSync:
    def __init__(self, client: PlacementClient, refresh_audits: int = 10):
        self._client = client
        self._refresh_audits = refresh_audits
        self._syncs: dict[str, ProviderSync] = {}

    def sync(self, tree: ProviderTree, deadline: float, allocations: bool = False) -> SyncOutcome:
        """The root first (its allocations read if asked, or if it changed in Placement),
        then the sharing provider; the outcome adds theirs up (the root's fault first)."""
        wanted = {report.uuid for report in tree.providers}
        for gone in self._syncs.keys() - wanted:
            del self._syncs[gone]  # no longer reported (storage no longer shared): left as is
        outcomes = [
            self._of(report.uuid, report is tree.root).sync(report, deadline, allocations)
            for report in tree.providers
        ]
        root = outcomes[0]
        return SyncOutcome(
            requests=sum(outcome.requests for outcome in outcomes),
            wrote=any(outcome.wrote for outcome in outcomes),
            conflicts=sum(outcome.conflicts for outcome in outcomes),
            failure=next((o.failure for o in outcomes if o.failure is not None), None),
            allocations=root.allocations,
        )

    def _of(self, uuid: str, root: bool) -> ProviderSync:
        if uuid not in self._syncs:
            self._syncs[uuid] = ProviderSync(self._client, self._refresh_audits, watched=root)
        return self._syncs[uuid]
