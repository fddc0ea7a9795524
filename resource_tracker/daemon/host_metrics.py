"""The host's gauges: absent until an audit tells them (a gauge at 0 would claim a host with
no CPUs or disk, where the truth is "not known yet"), then as the last successful audit left
them; and whether the last audit reached libvirt and the database. Per NUMA cell (label
`cell`, and `page_size_bytes` for pages): the numbers of the row's numa_topology, and the
free pages the kernel reports (only where libvirt says)."""

from __future__ import annotations

import threading

from prometheus_client.core import GaugeMetricFamily

from resource_tracker.audit.shape import HostShape
from resource_tracker.audit.tracker import HostFigures

# name (after resource_tracker_), help, value from an audit's HostFigures
HOST_GAUGES = (
    ("vcpus", "Host CPUs online", lambda f: f.vcpus),
    ("vcpus_used", "vCPUs of active domains, pinned ones too", lambda f: f.vcpus_used),
    ("memory_bytes", "Host memory (node memory stats total)", lambda f: f.memory_total_bytes),
    ("memory_used_bytes", "Memory of active domains", lambda f: f.memory_used_bytes),
    (
        "local_disk_bytes",
        "Size of local storage: f_frsize*f_blocks of instances_path, or the VG's size",
        lambda f: f.disk_total_bytes,
    ),
    (
        "local_disk_used_bytes",
        "Used local storage: f_frsize*(f_blocks-f_bfree), or the VG's size less its free",
        lambda f: f.disk_used_bytes,
    ),
    (
        "local_disk_avail_bytes",
        "Local storage new disks may take: f_frsize*f_bavail (node_exporter's avail; root's "
        "reserve excluded), or the VG's free space",
        lambda f: f.disk_free_bytes,
    ),
    (
        "local_disk_free_bytes",
        "Deprecated: the same value as resource_tracker_local_disk_avail_bytes, under the "
        "name it had first; will be removed",
        lambda f: f.disk_free_bytes,
    ),
    (
        "disk_overcommit_bytes",
        "What the thin file disks of every domain may still grow into",
        lambda f: f.disk_overcommit_bytes,
    ),
    (
        "disk_available_least_bytes",
        "Local storage available less disk over-commit; may be negative",
        lambda f: f.disk_free_bytes - f.disk_overcommit_bytes,
    ),
    ("running_vms", "Active domains", lambda f: f.running_vms),
)

# name (after resource_tracker_), help, value from an audit's HostShape
SHAPE_GAUGES = (
    ("pcpus", "Dedicated CPUs online ([compute] cpu_dedicated_set)", lambda s: s.pcpus),
    ("pcpus_used", "Dedicated CPUs pinned by domains, shut-off ones too", lambda s: s.pcpus_used),
)
# name (after resource_tracker_numa_), help, value of a cell's CellUsage
CELL_GAUGES = (
    ("cpus", "Shared CPUs of the NUMA cell", lambda c: len(c.shared_cpus)),
    ("cpus_used", "Shared vCPUs placed on the NUMA cell", lambda c: c.vcpus_used),
    ("pcpus", "Dedicated CPUs of the NUMA cell", lambda c: len(c.dedicated_cpus)),
    ("pcpus_pinned", "Dedicated CPUs of the NUMA cell pinned", lambda c: len(c.pinned_cpus)),
    ("memory_bytes", "Memory of the NUMA cell", lambda c: c.memory_bytes),
    ("memory_used_bytes", "Memory placed on the NUMA cell", lambda c: c.memory_used_bytes),
)
# metric name (after resource_tracker_numa_): field of a PageUsage. Not "pages_total": a
# _total suffix is for counters.
PAGE_GAUGES = {
    "pages": "total",
    "pages_used": "used",
    "pages_reserved": "reserved",
    "pages_free": "free",
}


class HostCollector:
    """The host's gauges: absent until an audit tells them, then as the last one left them."""

    def __init__(self):
        self._lock = threading.Lock()
        self._figures: HostFigures | None = None
        self._shape: HostShape | None = None
        self._last_success: float | None = None
        self._up: dict[str, int] = {}

    def succeeded(self, figures: HostFigures, now: float, shape: HostShape | None) -> None:
        with self._lock:
            self._figures, self._last_success, self._shape = figures, now, shape
            self._up = {"libvirt": 1, "database": 1}

    def reached(self, **up: int) -> None:
        with self._lock:
            self._up.update(up)

    def collect(self):
        with self._lock:
            figures, last_success, up = self._figures, self._last_success, dict(self._up)
            shape = self._shape
        if shape is not None:
            yield from _shape_gauges(shape)
        if figures is not None:
            for name, help_text, value in HOST_GAUGES:
                yield _gauge(name, help_text, value(figures))
            yield _domains_by_flavor(figures)
            yield _gauge(
                "last_success_timestamp_seconds",
                "Unix time of the last successful audit",
                last_success,
            )
        for name, reached in sorted(up.items()):
            yield _gauge(f"{name}_up", f"1 if the last audit reached {name}", reached)


def _shape_gauges(shape: HostShape):
    for name, help_text, value in SHAPE_GAUGES:
        yield _gauge(name, help_text, value(shape))
    for name, help_text, value in CELL_GAUGES:
        family = GaugeMetricFamily(f"resource_tracker_numa_{name}", help_text, labels=["cell"])
        for cell in shape.cells:
            family.add_metric([str(cell.id)], value(cell))
        yield family
    for name, field in PAGE_GAUGES.items():
        family = GaugeMetricFamily(
            f"resource_tracker_numa_{name}",
            f"Pages of the NUMA cell and size, {field}",
            labels=["cell", "page_size_bytes"],
        )
        for cell in shape.cells:
            for pages in cell.pages:
                if getattr(pages, field) is not None:  # free: only where libvirt says
                    family.add_metric([str(cell.id), str(pages.size_bytes)], getattr(pages, field))
        yield family


def _domains_by_flavor(figures: HostFigures) -> GaugeMetricFamily:
    family = GaugeMetricFamily(
        "resource_tracker_domains",
        'Domains, running or not, by the Nova flavor their metadata names ("": none)',
        labels=["flavor"],
    )
    for flavor, count in figures.domains_by_flavor:
        family.add_metric([flavor], count)
    return family


def _gauge(name: str, help_text: str, value) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"resource_tracker_{name}", help_text, value=value)
