"""Prometheus metrics and a health check, served over HTTP from a thread of their own.

Names carry base units (bytes, seconds), as Prometheus asks; the values are the audit's
own, before the table's MB/GB flooring, so `resource_tracker_memory_bytes // 2**20` is the
row's memory_mb. `/healthz` answers 200 while audits succeed within HEALTHY_INTERVALS
intervals (or the first audit is not due yet) and 503 otherwise.
"""

from __future__ import annotations

import collections
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
        self.pci_devices = Gauge(
            "resource_tracker_pci_devices",
            "Offered PCI devices ([pci] device_spec), by state and type",
            ["status", "dev_type"],
            registry=self.registry,
        )
        self.mdev_available = Gauge(
            "resource_tracker_mdev_instances_available",
            "Mediated devices (vGPUs) new guests can still get, by mdev type: instances the "
            "parents can still create plus orphaned mdevs",
            ["type"],
            registry=self.registry,
        )
        self.mdev_used = Gauge(
            "resource_tracker_mdev_instances_used",
            "Mediated devices (vGPUs) used by active domains, by mdev type",
            ["type"],
            registry=self.registry,
        )
        self.device_xml_reads = Counter(
            "resource_tracker_node_device_xml_reads",
            "Node device XML read from libvirt (none while no device changes)",
            registry=self.registry,
        )
        self._device_labels: dict[Gauge, set[tuple[str, ...]]] = {}
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
        if result.devices is not None:
            self._devices_succeeded(result)
        self.duration.observe(result.duration_s)
        self.last_success.set(time.time())
        self.libvirt_up.set(1)
        self.database_up.set(1)
        self._healthy_until = time.monotonic() + HEALTHY_INTERVALS * interval_s

    def _devices_succeeded(self, result: AuditResult) -> None:
        use = result.devices
        by_status = collections.Counter((s.status, s.device.dev_type) for s in use.offered)
        available, used = collections.Counter(), collections.Counter()
        for entry in use.mdevs:
            available[(entry.type_id,)] += entry.free
            used[(entry.type_id,)] += entry.used
        for gauge, values in (
            (self.pci_devices, by_status),
            (self.mdev_available, available),
            (self.mdev_used, used),
        ):
            for labels, value in values.items():
                gauge.labels(*labels).set(value)
            for gone in self._device_labels.get(gauge, set()) - set(values):
                gauge.remove(*gone)
            self._device_labels[gauge] = set(values)
        self.device_xml_reads.inc(result.resources.devices.xml_reads)

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
