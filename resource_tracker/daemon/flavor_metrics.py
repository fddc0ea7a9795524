"""resource_tracker_flavor_fit{flavor}: how many more guests of each flavor of [capacity]
flavors_file fit on this host, worked out from the row the last successful audit wrote (no
query: the audit's own values), by the `least` disk rule (docs/capacity.md). Absent until
the first audit; a flavor that cannot be worked out is left out with one warning, never a
failed audit."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from prometheus_client.core import GaugeMetricFamily

from resource_tracker.audit.fitting import host
from resource_tracker.audit.fitting.count import how_many
from resource_tracker.audit.fitting.flavor import Request
from resource_tracker.resources import ComputeNodeValues

LOG = logging.getLogger(__name__)


class FlavorFitCollector:
    def __init__(self, flavors: Sequence[tuple[str, Request]] = ()):
        self._flavors = tuple(flavors)
        self._lock = threading.Lock()
        self._fits: dict[str, int] | None = None
        self._warned: set[str] = set()

    def succeeded(self, values: ComputeNodeValues) -> None:
        if not self._flavors:
            return
        fits: dict[str, int] = {}
        try:
            free = host.read(values)
        except (ValueError, KeyError, TypeError) as error:
            self._warn("*", f"flavor_fit: the row's JSON does not read: {error!r}")
            return  # the last figures stay, as the other gauges' do after a failure
        for name, request in self._flavors:
            try:
                fits[name] = how_many(free.copy(), request).fits
            except Exception as error:  # a gauge must never fail the audit
                self._warn(name, f"flavor_fit{{flavor={name!r}}} left out: {error!r}")
        with self._lock:
            self._fits = fits

    def _warn(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            LOG.warning("%s", message)

    def collect(self):
        with self._lock:
            fits = self._fits
        if fits is None:
            return
        family = GaugeMetricFamily(
            "resource_tracker_flavor_fit",
            "More guests of the flavor ([capacity] flavors_file) that fit on this host, "
            "placed as Nova 34 would place them",
            labels=["flavor"],
        )
        for name, count in fits.items():
            family.add_metric([name], count)
        yield family
