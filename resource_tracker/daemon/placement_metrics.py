"""The Placement reporting metrics ([placement] report, docs/placement.md): requests sent,
reports failed by kind of fault (every kind has its series from the start, so rate() sees
the first), generation conflicts retried, and the drift between allocations and domains as
last compared."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from resource_tracker.audit.drift import counts as drift_counts
from resource_tracker.audit.tracker import AuditResult
from resource_tracker.placement.client import KINDS
from resource_tracker.placement.sync import CONFLICT

PLACEMENT_FAULTS = (*KINDS, CONFLICT)


class PlacementMetrics:
    def __init__(self, registry: CollectorRegistry):
        self.requests = Counter(
            "resource_tracker_placement_requests",
            "Requests sent to Placement (none while the host's provider is unchanged)",
            registry=registry,
        )
        self.failed = Counter(
            "resource_tracker_placement_reports_failed",
            "Audits whose report to Placement failed, by kind of fault (the row was written)",
            ["kind"],
            registry=registry,
        )
        for kind in PLACEMENT_FAULTS:
            self.failed.labels(kind)
        self.drift = Gauge(
            "resource_tracker_placement_drift",
            "Allocations in Placement that differ from the host's domains, by kind, as last "
            "compared (docs/placement.md)",
            ["kind"],
            registry=registry,
        )
        self.conflicts = Counter(
            "resource_tracker_placement_generation_conflicts",
            "Writes to Placement retried because another writer changed the provider",
            registry=registry,
        )

    def audit_succeeded(self, result: AuditResult) -> None:
        if result.placement is not None:
            self.requests.inc(result.placement.requests)
            self.conflicts.inc(result.placement.conflicts)
            if result.placement.failure is not None:
                self.failed.labels(result.placement.failure).inc()
        if result.drift is not None:
            for kind, count in drift_counts(result.drift).items():
                self.drift.labels(kind).set(count)
