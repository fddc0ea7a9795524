"""The database as the rest of the program sees it: schema, reconcile, queries.

A Database is shared by threads: each call takes its own connection from the pool, so the
reconcile can run in a worker thread while the manage commands read. It outlives the server:
a call made while the server is down raises DatabaseUnavailable, and the next call after it
comes back reconnects (stale pooled connections are pinged out; a connection that failed in a
way a fresh one cures is replaced, errors.py). Every error reaching the caller is
DatabaseUnavailable or SchemaNotCurrent, one line, with the URL's password masked, saying
(`needs_operator`) when only a person can cure it.

With `full_read_every` above 1 (the daemon's), a reconcile whose values (and devices)
equal those this Database committed last for the host, off shared storage, is the
heartbeat alone: no SELECT, no compute_nodes or pci_devices statement. Every
`full_read_every`-th reconcile reads the rows anyway, so a row changed behind the daemon's
back (by hand, or `nodes delete --force`) is put back within that many audits. With
`report_interval_s` (the daemon's [DEFAULT] report_interval), such a reconcile sends
nothing at all while the host's last committed heartbeat is younger than that (liveness.py);
it still counts towards the full read. Between audits, beat() sends the heartbeat alone.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime

from sqlalchemy import Connection, Row, RowMapping, Select, inspect, select, text
from sqlalchemy.exc import SQLAlchemyError

from resource_tracker import modes
from resource_tracker.db import dialect, errors, housekeeping, liveness, reconcile, schema
from resource_tracker.db import engine as db_engine
from resource_tracker.db.models import compute_nodes, pci_devices, services
from resource_tracker.db.records import ComputeNode, PciDevice, Service
from resource_tracker.db.retry import RetryPolicy, in_transaction
from resource_tracker.exception import DatabaseUnavailable
from resource_tracker.resources import ComputeNodeValues, PciDeviceValues, Reconciled


class Database:
    def __init__(
        self,
        url: str,
        retry: RetryPolicy | None = None,
        on_retry: Callable[[Exception], None] | None = None,
        full_read_every: int = 1,
        report_interval_s: float = 0,
    ):
        self.url = url
        self.full_read_every = full_read_every
        self.engine = db_engine.make_engine(url)
        self.retry = retry or RetryPolicy()
        self._on_retry = on_retry
        self._lock = threading.Lock()
        self.retries = 0
        self._committed: dict[str, tuple] = {}  # host: what its last reconcile committed
        self._uuids: dict[str, Mapping[str, str]] = {}  # host: its rows' uuids, last read
        self._beats_since_read = 0
        self.full_reconciles = 0  # reconciles that read (and wrote what differed)
        self.heartbeats_only = 0  # reconciles that found nothing to read
        self.heartbeats = liveness.Heartbeats(report_interval_s)
        self.skipped = 0  # reconciles that sent nothing: the heartbeat was not due

    @property
    def masked_url(self) -> str:
        return db_engine.masked(self.url)

    def sync_schema(self) -> tuple[str | None, str]:
        """Create or upgrade the schema (db sync); the revisions before and after."""
        directory = db_engine.sqlite_directory(self.url)
        if directory:
            try:
                modes.make_directories(directory)
            except OSError as error:
                raise DatabaseUnavailable(
                    f"database {self.masked_url}: cannot create {directory}: {error.strerror}"
                ) from error
        with self._errors():
            db_engine.use_rollback_journal(self.engine)
            return schema.sync(self.engine, self.masked_url)

    def schema_revision(self) -> str | None:
        with self._errors(), self.engine.connect() as connection:
            return schema.current(connection)

    def check_schema(self) -> None:
        """Raise SchemaNotCurrent unless the schema is at head; DatabaseUnavailable if down."""
        with self._errors(), self.engine.connect() as connection:
            schema.check(connection, self.masked_url)

    def check_or_create_schema(self) -> str | None:
        """check_schema, but an SQLite database without a single table (the embedded default,
        on first use) is given the schema: its revision is returned, else None. A database
        with tables of its own, at another revision, or on a server is never changed here."""
        if self.is_new_sqlite():
            with schema.migrations_quiet():  # the caller logs one line for all of them
                return self.sync_schema()[1]
        self.check_schema()
        return None

    def is_new_sqlite(self) -> bool:
        """An SQLite database with no table yet (or no file): check_or_create_schema gives it
        the schema. Asking creates no file."""
        return self.engine.dialect.name == "sqlite" and self._sqlite_is_empty()

    def _sqlite_is_empty(self) -> bool:
        path = self.engine.url.database
        if path in (None, "", ":memory:") or not os.path.exists(path):
            return True
        with self._errors(), self.engine.connect() as connection:
            return not inspect(connection).get_table_names()

    def reconcile_compute_nodes(
        self,
        host: str,
        reported: Sequence[ComputeNodeValues],
        shared: reconcile.LeastOnSharedStorage | None = None,
        devices: Mapping[str, Sequence[PciDeviceValues]] | None = None,
    ) -> Reconciled:
        """Make the host's live rows hold `reported` and soft-delete its other rows, with
        their pci_devices (`devices`, by hypervisor_hostname), in one transaction (retried
        when other writers were in the way); say whether any row changed. On `shared`
        storage, a row's disk_available_least counts the other hosts' disks: the values it
        got are in the answer.

        The heartbeat, the transaction's first write, checks the schema's revision
        (SchemaNotCurrent, nothing written), so a daemon never writes into a schema it does
        not know, whether it started while the database was down or the schema moved on
        while it ran."""

        committed = (
            tuple(reported),
            None if devices is None else tuple((k, tuple(v)) for k, v in devices.items()),
        )
        beat_only = (
            shared is None
            and self._committed.get(host) == committed
            and self._beats_since_read < self.full_read_every - 1
        )
        began = self.heartbeats.clock()
        if beat_only and not self.heartbeats.due(host, began):
            self._beats_since_read += 1
            self.skipped += 1
            return Reconciled(False, uuids=self._uuids.get(host, {}), read=False, sent=False)

        def work(connection: Connection) -> Reconciled:
            guard = self._guard(connection)
            if beat_only:
                reconcile.beat(connection, host, guard)
                # the rows' uuids are those of the last full read: only a row replaced by
                # hand changes one, and the next full read sees it
                return Reconciled(False, uuids=self._uuids.get(host, {}), read=False)
            return reconcile.reconcile_host(connection, host, reported, guard, shared, devices)

        self._committed.pop(host, None)  # until this one commits
        with self._errors():
            result = in_transaction(self.engine, work, self.retry, self._count_retry)
        self._committed[host] = committed
        self._uuids[host] = result.uuids
        self.heartbeats.beaten(host, began)
        if beat_only:
            self._beats_since_read += 1
            self.heartbeats_only += 1
        else:
            self._beats_since_read = 0
            self.full_reconciles += 1
        return result

    def beat(self, host: str) -> None:
        """The host's heartbeat alone, in a transaction of its own (retried like a
        reconcile's), checking the schema's revision as a reconcile does."""
        began = self.heartbeats.clock()

        def work(connection: Connection) -> None:
            reconcile.beat(connection, host, self._guard(connection))

        with self._errors():
            in_transaction(self.engine, work, self.retry, self._count_retry)
        self.heartbeats.beaten(host, began)

    def set_report_interval(self, seconds: float) -> None:
        """A new report_interval (SIGHUP): the next heartbeat is due by it."""
        self.heartbeats.interval_s = seconds

    def beat_due(self, host: str) -> float | None:
        """When the host's next heartbeat is due (time.monotonic()); None: its first is
        a reconcile's, and with report_interval 0 every reconcile beats."""
        return self.heartbeats.next_due(host)

    def _guard(self, connection: Connection) -> reconcile.Guard:
        return reconcile.Guard(schema.at_head(), lambda: schema.check(connection, self.masked_url))

    def plan_compute_nodes(
        self,
        host: str,
        reported: Sequence[ComputeNodeValues],
        shared: reconcile.LeastOnSharedStorage | None = None,
    ) -> list[reconcile.Planned]:
        """What reconcile_compute_nodes would do, without writing anything."""
        with self._errors(), self.engine.connect() as connection:
            schema.check(connection, self.masked_url)
            return reconcile.plan_host(connection, host, reported, shared)

    def compute_nodes(
        self, host: str | None = None, include_deleted: bool = False
    ) -> list[ComputeNode]:
        """compute_nodes rows (live ones unless asked), of one host or all, ordered by host."""
        query = select(compute_nodes)
        if not include_deleted:
            query = query.where(compute_nodes.c.deleted == 0)
        if host is not None:
            query = query.where(compute_nodes.c.host == host)
        query = query.order_by(compute_nodes.c.host, compute_nodes.c.hypervisor_hostname)
        return [ComputeNode(*row) for row in self._read(query)]

    def pci_devices(self, host: str | None = None) -> list[tuple[ComputeNode, PciDevice]]:
        """Live pci_devices rows of live compute nodes, of one host or all, with their node;
        by host, node and address."""
        nodes, devices = compute_nodes.c, pci_devices.c
        query = (
            select(compute_nodes, pci_devices)
            .join_from(compute_nodes, pci_devices, devices.compute_node_id == nodes.id)
            .where(nodes.deleted == 0, devices.deleted == 0)
            .order_by(nodes.host, nodes.hypervisor_hostname, devices.address)
        )
        if host is not None:
            query = query.where(nodes.host == host)
        split = len(nodes)
        return [(ComputeNode(*row[:split]), PciDevice(*row[split:])) for row in self._read(query)]

    def services(self, host: str | None = None) -> list[Service]:
        """Live services rows (the trackers' heartbeats), of one host or all."""
        query = select(services).where(services.c.deleted == 0)
        if host is not None:
            query = query.where(services.c.host == host)
        query = query.order_by(services.c.host, services.c.binary)
        return [Service(*row) for row in self._read(query)]

    def _read(self, query: Select) -> list[Row]:
        with self._errors(), self.engine.connect() as connection:
            return list(connection.execute(query))

    def storage_pools(self) -> list[RowMapping]:
        """The storage_pools view: one row per storage of the live compute nodes."""
        query = text("SELECT * FROM storage_pools ORDER BY storage_id")
        with self._errors(), self.engine.connect() as connection:
            return list(connection.execute(query).mappings())

    def delete_compute_nodes(self, host: str) -> int:
        """Soft-delete the host's live compute nodes; how many."""
        return self._write(housekeeping.soft_delete_nodes, host)

    def delete_service(self, host: str) -> tuple[int, int]:
        """Soft-delete the host's tracker and its compute nodes; how many of each."""
        return self._write(housekeeping.soft_delete_service, host)

    def purge_deleted(self, before: datetime, really: bool = False) -> dict[str, int]:
        """Count, and if `really` remove, the rows soft-deleted before `before` (UTC)."""
        return self._write(housekeeping.purge, before, really)

    def now(self) -> datetime:
        """The database's clock in UTC: the one every heartbeat was stamped with."""
        with self._errors(), self.engine.connect() as connection:
            return connection.execute(select(dialect.utc_now())).scalar_one()

    def _write(self, function, *args):
        """One transaction of `function(connection, *args)`, at the schema this program knows."""
        with self._errors(), self.engine.begin() as connection:
            schema.check(connection, self.masked_url)
            return function(connection, *args)

    def dispose(self) -> None:
        """Close the pooled connections; whoever made the Database calls it when done."""
        self.engine.dispose()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *_exc) -> None:
        self.dispose()

    def _count_retry(self, error: Exception) -> None:
        with self._lock:
            self.retries += 1
        if self._on_retry is not None:
            self._on_retry(error)

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except SQLAlchemyError as error:
            password = db_engine.password(self.url)
            raise errors.unavailable(error, self.masked_url, password) from error
