"""Prometheus metrics and a health check, served over HTTP by a small fixed pool of threads.

Names carry base units (bytes, seconds), as Prometheus asks; the values are the audit's
own, before the table's MB/GB flooring (docs/metrics.md says which column
each one becomes and how); the host's gauges are host_metrics.py's. Every failure reason
has its series from the start, so rate() sees the first failure.
`/healthz` answers 200 while audits succeed within HEALTHY_INTERVALS intervals (or the
first audit is not due yet) and 503 otherwise, at once after a failure that needs an
operator; a 503 names the last failure in one line; any other path is 404.

The server cannot be made to hold what the daemon needs: WORKERS threads serve one
connection each, a connection is accepted only when one of them is free (the rest wait in
the kernel's listen queue, costing this process no descriptor), and each connection has
CONNECTION_TIMEOUT_S in all to send its request and take the answer.
"""

from __future__ import annotations

import io
import logging
import queue
import re
import socket
import threading
import time
from collections.abc import Sequence
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    make_wsgi_app,
)

from resource_tracker import version
from resource_tracker.audit.fitting.flavor import Request
from resource_tracker.audit.tracker import AuditResult
from resource_tracker.conf.metrics import LISTEN_PATTERN
from resource_tracker.daemon.device_metrics import DeviceCollector
from resource_tracker.daemon.flavor_metrics import FlavorFitCollector
from resource_tracker.daemon.host_metrics import HostCollector
from resource_tracker.daemon.placement_metrics import PlacementMetrics
from resource_tracker.exception import (
    DatabaseUnavailable,
    HypervisorUnavailable,
    SchemaNotCurrent,
    StorageUnavailable,
)

LOG = logging.getLogger(__name__)

HEALTHY_INTERVALS = 3
DEFAULT_ADDRESS = "127.0.0.1"
WORKERS = 4
CONNECTION_TIMEOUT_S = 10.0
LISTEN_BACKLOG = 64

FAILURE_REASONS = (
    (HypervisorUnavailable, "libvirt"),
    ((DatabaseUnavailable, SchemaNotCurrent), "database"),
    (StorageUnavailable, "storage"),
)
OTHER_FAILURE = "error"
RECONCILE_KINDS = ("heartbeat", "full", "skipped")


def parse_listen(listen: str) -> tuple[str, int]:
    """'PORT' or 'ADDRESS:PORT' ('[v6]:PORT') -> (address, port); loopback when no address."""
    if not re.match(LISTEN_PATTERN, listen):
        raise ValueError(f"expected PORT or ADDRESS:PORT, got {listen!r}")
    address, _, port = listen.rpartition(":")
    return address.strip("[]") or DEFAULT_ADDRESS, int(port)


class Metrics:
    def __init__(self, flavors: Sequence[tuple[str, Request]] = ()):
        self.registry = CollectorRegistry()
        self._exposition = make_wsgi_app(self.registry)
        self._healthy_until = float("inf")
        self._last_failure: str | None = None  # since the last success
        self._needs_operator = False
        self._host = HostCollector()
        self.registry.register(self._host)
        ProcessCollector(registry=self.registry)  # process_open_fds, memory, CPU, start time
        Gauge(
            "resource_tracker_build_info",
            "Always 1; the label is the running daemon's version",
            ["version"],
            registry=self.registry,
        ).labels(version()).set(1)
        self.duration = Histogram(
            "resource_tracker_audit_duration_seconds",
            "Time an audit took, from the first libvirt call to the commit",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=self.registry,
        )
        self.interval = Gauge(
            "resource_tracker_audit_interval_seconds",
            "[DEFAULT] update_resources_interval: an audit starts this often (the alert rules "
            "measure staleness and overruns in it)",
            registry=self.registry,
        )
        self._devices = DeviceCollector()
        self.registry.register(self._devices)
        self._flavor_fit = FlavorFitCollector(flavors)
        self.registry.register(self._flavor_fit)
        self.device_xml_reads = Counter(
            "resource_tracker_node_device_xml_reads",
            "Node device XML read from libvirt (none while no device changes)",
            registry=self.registry,
        )
        self.domain_xml_reads = Counter(
            "resource_tracker_domain_xml_reads",
            "Domain XML read from libvirt (on events, and by the slow sweep between audits)",
            registry=self.registry,
        )
        self.audits = Counter(
            "resource_tracker_audits",
            "Audits that succeeded, by what started them: the period or libvirt's events",
            ["trigger"],
            registry=self.registry,
        )
        for trigger in ("period", "event"):
            self.audits.labels(trigger)
        self.reconciles = Counter(
            "resource_tracker_database_reconciles",
            "Successful audits' database work: `heartbeat` alone (nothing changed since the "
            "last commit), `full` (the rows read, what differed written) or `skipped` (nothing "
            "sent: unchanged, and the last heartbeat younger than report_interval)",
            ["kind"],
            registry=self.registry,
        )
        for kind in RECONCILE_KINDS:
            self.reconciles.labels(kind)
        self.heartbeats = Counter(
            "resource_tracker_heartbeats",
            "Heartbeats written on their own, between audits (every report_interval while "
            "audits succeed; an audit that writes beats too)",
            registry=self.registry,
        )
        self.events = Counter(
            "resource_tracker_libvirt_events",
            "libvirt events received, by kind (each calls for an audit soon)",
            ["kind"],
            registry=self.registry,
        )
        self.staleness = Histogram(
            "resource_tracker_event_staleness_seconds",
            "Time from a libvirt event to the end of the audit that wrote what it changed",
            buckets=(0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30, 60),
            registry=self.registry,
        )
        self.failed = Counter(
            "resource_tracker_audits_failed",
            "Audits that failed, by what was unavailable",
            ["reason"],
            registry=self.registry,
        )
        for _, reason in (*FAILURE_REASONS, (None, OTHER_FAILURE)):
            self.failed.labels(reason)
        self.placement = PlacementMetrics(self.registry)

    def expect_audit_by(self, deadline_monotonic: float, interval_s: float | None = None) -> None:
        """Healthy until `deadline` even without a success (the first audit is not due yet)."""
        self._healthy_until = deadline_monotonic
        if interval_s is not None:
            self.interval.set(interval_s)

    def audit_succeeded(
        self, result: AuditResult, interval_s: float, trigger: str = "period"
    ) -> None:
        figures = result.figures
        self.audits.labels(trigger).inc()
        self.reconciles.labels(reconcile_kind(result)).inc()
        self.domain_xml_reads.inc(figures.domain_xml_reads)
        self._host.succeeded(figures, time.time(), result.shape)
        if result.devices is not None:
            self._devices.succeeded(result.devices)
            self.device_xml_reads.inc(figures.device_xml_reads)
        self._flavor_fit.succeeded(result.values)
        self.duration.observe(result.duration_s)
        self.interval.set(interval_s)  # it may have changed on SIGHUP
        self.placement.audit_succeeded(result)
        self._healthy_until = time.monotonic() + HEALTHY_INTERVALS * interval_s
        self._last_failure, self._needs_operator = None, False

    def events_received(self, kinds: tuple[tuple[str, int], ...]) -> None:
        for kind, count in kinds:
            self.events.labels(kind).inc(count)

    def audit_failed(self, error: Exception, message: str | None = None) -> None:
        """Count the failure; `message`, its one line, is what a 503 from /healthz says."""
        self._last_failure = message or str(error) or type(error).__name__
        self._needs_operator = getattr(error, "needs_operator", False)
        reason = next((name for kinds, name in FAILURE_REASONS if isinstance(error, kinds)), None)
        self.failed.labels(reason or OTHER_FAILURE).inc()
        if reason == "libvirt":
            self._host.reached(libvirt=0)
        elif reason == "database":
            self._host.reached(libvirt=1, database=0)  # written after libvirt answered

    def healthy(self) -> bool:
        return not self._needs_operator and time.monotonic() <= self._healthy_until

    def unhealthy_because(self) -> str:
        """The one line a 503 from /healthz answers."""
        if self._last_failure is None:
            return "no successful audit recently"
        return f"no successful audit recently: {self._last_failure}"

    def serve(self, listen: str) -> WSGIServer:
        """Serve /metrics and /healthz on `listen` from daemon threads; return the server."""
        address, port = parse_listen(listen)
        server_class = _V6Server if ":" in address else _Server
        server = make_server(address, port, self._app, server_class, _Handler)
        threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
        return server

    def _app(self, environ, start_response):
        path = environ.get("PATH_INFO")
        if path == "/metrics":
            return self._exposition(environ, start_response)
        text = [("Content-Type", "text/plain; charset=utf-8")]
        if path == "/healthz":
            if self.healthy():
                start_response("200 OK", text)
                return [b"ok\n"]
            start_response("503 Service Unavailable", text)
            line = " ".join(self.unhealthy_because().split())
            return [f"{line}\n".encode()]
        start_response("404 Not Found", text)
        return [b"not found: try /metrics or /healthz\n"]


def reconcile_kind(result: AuditResult) -> str:
    if result.rows_read:
        return "full"
    return "heartbeat" if result.beat else "skipped"


class _Server(WSGIServer):
    """Serves each connection in one of WORKERS threads; accepts only when one is free."""

    request_queue_size = LISTEN_BACKLOG

    def server_activate(self) -> None:
        super().server_activate()
        self._free = threading.Semaphore(WORKERS)
        self._accepted: queue.SimpleQueue = queue.SimpleQueue()
        for number in range(WORKERS):
            threading.Thread(target=self._work, name=f"metrics-{number}", daemon=True).start()

    def get_request(self):
        self._free.acquire()  # leave the connection in the listen queue until a thread is free
        try:
            return super().get_request()
        except BaseException:
            self._free.release()
            raise

    def process_request(self, request, client_address) -> None:
        self._accepted.put((request, client_address))

    def _work(self) -> None:
        while True:
            request, client_address = self._accepted.get()
            try:
                self.finish_request(request, client_address)
            except Exception as error:  # a client that timed out or went away
                LOG.debug("metrics request from %s ended: %r", client_address, error)
            finally:
                self.shutdown_request(request)
                self._free.release()


class _V6Server(_Server):
    address_family = socket.AF_INET6


class _Handler(WSGIRequestHandler):
    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(CONNECTION_TIMEOUT_S)  # read here: tests shorten it
        self.rfile.close()  # replaced: every read of the request is held to one deadline
        deadline = time.monotonic() + CONNECTION_TIMEOUT_S
        self.rfile = io.BufferedReader(_DeadlineReader(self.connection, deadline))

    def log_message(self, *args) -> None:
        """Scrapes every few seconds would drown the audit lines."""


class _DeadlineReader(io.RawIOBase):
    """A connection's input whose every read ends by `deadline`, and so does the answer's
    write (the socket keeps the last timeout): a client sending a byte at a time gets no
    more time than one sending nothing."""

    def __init__(self, connection: socket.socket, deadline: float):
        self._connection = connection
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("connection deadline passed")
        self._connection.settimeout(remaining)
        return self._connection.recv_into(buffer)
