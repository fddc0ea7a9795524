"""The device gauges, as the last successful audit found the devices (absent until then):
offered PCI devices by state and type, and mediated devices (vGPUs) by mdev type, summed
over their parents. Label sets are those of that audit only: a state or type that is gone
is gone from the scrape too."""

from __future__ import annotations

import collections
import threading

from prometheus_client.core import GaugeMetricFamily

from resource_tracker.audit.devices import DeviceUse


class DeviceCollector:
    def __init__(self):
        self._lock = threading.Lock()
        self._use: DeviceUse | None = None

    def succeeded(self, use: DeviceUse) -> None:
        with self._lock:
            self._use = use

    def collect(self):
        with self._lock:
            use = self._use
        if use is None:
            return
        devices = GaugeMetricFamily(
            "resource_tracker_pci_devices",
            "Offered PCI devices ([pci] device_spec), by state and type",
            labels=["status", "dev_type"],
        )
        counts = collections.Counter((s.status, s.device.dev_type) for s in use.offered)
        for labels, count in sorted(counts.items()):
            devices.add_metric(list(labels), count)
        yield devices
        available = GaugeMetricFamily(
            "resource_tracker_mdev_instances_available",
            "Mediated devices (vGPUs) new guests can still get, by mdev type: instances the "
            "parents can still create plus orphaned mdevs",
            labels=["type"],
        )
        used = GaugeMetricFamily(
            "resource_tracker_mdev_instances_used",
            "Mediated devices (vGPUs) used by active domains, by mdev type",
            labels=["type"],
        )
        free: collections.Counter[str] = collections.Counter()
        busy: collections.Counter[str] = collections.Counter()
        for entry in use.mdevs:
            free[entry.type_id] += entry.free
            busy[entry.type_id] += entry.used
        for type_id in sorted(free):
            available.add_metric([type_id], free[type_id])
            used.add_metric([type_id], busy[type_id])
        yield available
        yield used
