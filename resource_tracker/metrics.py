"""Prometheus metrics and a health check, served over HTTP from a thread of their own.

Names carry base units (bytes, seconds), as Prometheus asks; the values are the audit's
own, before the table's MB/GB flooring, so `resource_tracker_memory_bytes // 2**20` is the
row's memory_mb. Per NUMA cell (label `cell`, and `page_size_bytes` for pages): the numbers
of the row's numa_topology, and the free pages the kernel reports. `/healthz` answers 200
while audits succeed within HEALTHY_INTERVALS intervals (or the first audit is not due yet)
and 503 otherwise.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

from resource_tracker.conf.metrics import LISTEN_PATTERN
from resource_tracker.exception import (
    DatabaseUnavailable,
    HypervisorUnavailable,
    SchemaNotCurrent,
    StorageUnavailable,
)
from resource_tracker.shape import HostShape
from resource_tracker.tracker import AuditResult

HEALTHY_INTERVALS = 3
DEFAULT_ADDRESS = "127.0.0.1"

FAILURE_REASONS = (
    (HypervisorUnavailable, "libvirt"),
    ((DatabaseUnavailable, SchemaNotCurrent), "database"),
    (StorageUnavailable, "storage"),
)


def parse_listen(listen: str) -> tuple[str, int]:
    """'PORT' or 'ADDRESS:PORT' ('[v6]:PORT') -> (address, port); loopback when no address."""
    if not re.match(LISTEN_PATTERN, listen):
        raise ValueError(f"expected PORT or ADDRESS:PORT, got {listen!r}")
    address, _, port = listen.rpartition(":")
    return address.strip("[]") or DEFAULT_ADDRESS, int(port)


class Metrics:
    def __init__(self):
        self.registry = CollectorRegistry()
        self._exposition = make_wsgi_app(self.registry)
        self._healthy_until = float("inf")

        def gauge(name: str, help_text: str) -> Gauge:
            return Gauge(f"resource_tracker_{name}", help_text, registry=self.registry)

        self.vcpus = gauge("vcpus", "Host CPUs online")
        self.vcpus_used = gauge("vcpus_used", "vCPUs of active domains")
        self.memory = gauge("memory_bytes", "Host memory")
        self.memory_used = gauge("memory_used_bytes", "Memory of active domains")
        self.disk = gauge("local_disk_bytes", "Size of the instances file system or VG")
        self.disk_used = gauge("local_disk_used_bytes", "Used space of local storage")
        self.disk_free = gauge("local_disk_free_bytes", "Free space of local storage")
        self.overcommit = gauge("disk_overcommit_bytes", "What thin disks may still grow into")
        self.least = gauge("disk_available_least_bytes", "Free local disk minus over-commit")
        self.running_vms = gauge("running_vms", "Active domains")
        self.pcpus = gauge("pcpus", "Dedicated CPUs online ([compute] cpu_dedicated_set)")
        self.pcpus_used = gauge("pcpus_used", "Dedicated CPUs pinned by active domains")

        def per_cell(name: str, help_text: str, *labels: str) -> Gauge:
            return Gauge(
                f"resource_tracker_numa_{name}",
                help_text,
                ["cell", *labels],
                registry=self.registry,
            )

        self.cell_gauges = {
            "cpus": per_cell("cpus", "Shared CPUs of the cell"),
            "cpus_used": per_cell("cpus_used", "Shared vCPUs placed on the cell"),
            "pcpus": per_cell("pcpus", "Dedicated CPUs of the cell"),
            "pcpus_pinned": per_cell("pcpus_pinned", "Dedicated CPUs of the cell pinned"),
            "memory": per_cell("memory_bytes", "Memory of the cell"),
            "memory_used": per_cell("memory_used_bytes", "Memory placed on the cell"),
        }
        self.page_gauges = {
            field: per_cell(f"pages_{field}", f"Pages of the cell, {field}", "page_size_bytes")
            for field in ("total", "used", "reserved", "free")
        }
        self.last_success = gauge(
            "last_success_timestamp_seconds", "Unix time of the last successful audit"
        )
        self.libvirt_up = gauge("libvirt_up", "1 if the last audit reached libvirt")
        self.database_up = gauge("database_up", "1 if the last audit reached the database")
        self.duration = Histogram(
            "resource_tracker_audit_duration_seconds",
            "Time an audit took, from the first libvirt call to the commit",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=self.registry,
        )
        self.failed = Counter(
            "resource_tracker_audits_failed",
            "Audits that failed, by what was unavailable",
            ["reason"],
            registry=self.registry,
        )

    def expect_audit_by(self, deadline_monotonic: float) -> None:
        """Healthy until `deadline` even without a success (the first audit is not due yet)."""
        self._healthy_until = deadline_monotonic

    def audit_succeeded(self, result: AuditResult, interval_s: float) -> None:
        resources = result.resources
        self.vcpus.set(resources.vcpus)
        self.vcpus_used.set(resources.vcpus_used)
        self.memory.set(resources.memory_total_bytes)
        self.memory_used.set(resources.memory_used_bytes)
        self.disk.set(resources.storage.total_bytes)
        self.disk_used.set(resources.storage.used_bytes)
        self.disk_free.set(resources.storage.free_bytes)
        self.overcommit.set(resources.disk_overcommit_bytes)
        self.least.set(resources.storage.free_bytes - resources.disk_overcommit_bytes)
        self.running_vms.set(resources.running_vms)
        if result.shape is not None:
            self._cells(result.shape)
        self.duration.observe(result.duration_s)
        self.last_success.set(time.time())
        self.libvirt_up.set(1)
        self.database_up.set(1)
        self._healthy_until = time.monotonic() + HEALTHY_INTERVALS * interval_s

    def _cells(self, shape: HostShape) -> None:
        self.pcpus.set(shape.pcpus)
        self.pcpus_used.set(shape.pcpus_used)
        for gauge in (*self.cell_gauges.values(), *self.page_gauges.values()):
            gauge.clear()  # a cell or size gone since the last audit is gone here too
        cells = self.cell_gauges
        for cell in shape.cells:
            label = str(cell.id)
            cells["cpus"].labels(label).set(len(cell.shared_cpus))
            cells["cpus_used"].labels(label).set(cell.vcpus_used)
            cells["pcpus"].labels(label).set(len(cell.dedicated_cpus))
            cells["pcpus_pinned"].labels(label).set(len(cell.pinned_cpus))
            cells["memory"].labels(label).set(cell.memory_bytes)
            cells["memory_used"].labels(label).set(cell.memory_used_bytes)
            for pages in cell.pages:
                size = str(pages.size_bytes)
                for field, gauge in self.page_gauges.items():
                    value = getattr(pages, field)
                    if value is not None:  # free pages: only where libvirt says
                        gauge.labels(label, size).set(value)

    def audit_failed(self, error: Exception) -> None:
        reason = next((name for kinds, name in FAILURE_REASONS if isinstance(error, kinds)), None)
        self.failed.labels(reason or "error").inc()
        if reason == "libvirt":
            self.libvirt_up.set(0)
        elif reason == "database":
            self.libvirt_up.set(1)  # the database is written after libvirt answered
            self.database_up.set(0)

    def healthy(self) -> bool:
        return time.monotonic() <= self._healthy_until

    def serve(self, listen: str) -> ThreadingWSGIServer:
        """Serve /metrics and /healthz on `listen` from a daemon thread; return the server."""
        address, port = parse_listen(listen)
        server_class = _V6Server if ":" in address else ThreadingWSGIServer
        server = make_server(address, port, self._app, server_class, _QuietHandler)
        threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
        return server

    def _app(self, environ, start_response):
        if environ.get("PATH_INFO") == "/healthz":
            healthy = self.healthy()
            status = "200 OK" if healthy else "503 Service Unavailable"
            start_response(status, [("Content-Type", "text/plain; charset=utf-8")])
            return [b"ok\n" if healthy else b"no successful audit recently\n"]
        return self._exposition(environ, start_response)


class _V6Server(ThreadingWSGIServer):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args) -> None:
        """Scrapes every few seconds would drown the audit lines."""
