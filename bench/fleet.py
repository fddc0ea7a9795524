#!/usr/bin/env python3
"""A fleet of hosts reconciling into one MariaDB: our db layer against the naive way.

    .venv/bin/python bench/fleet.py [--hosts 5000] [--rounds 3] [--change 0.1]
                                    [--writers 100] [--runs 3] [--url mysql+pymysql://...]

Each run makes a fresh database (on a private mariadbd the benchmark starts, unless --url
names a server), then every host reconciles once to register, then `--rounds` more times
with a share `--change` of the hosts reporting new values. `--writers` threads, each with
its own connection as a daemon has, share the hosts. Two ways, side by side in each run:

- ours: Database.reconcile_compute_nodes (heartbeat UPDATE, one SELECT, compute_nodes
  written only where a value changed, dialect upsert, retries on deadlock and lock wait);
- naive: per host one transaction of SELECT then UPDATE (every column) or INSERT, for the
  services row and the compute_nodes row, with no change detection and no retry.

Printed: medians over the runs of reconciles/s and p50/p99 latency (the rounds after
registration), deadlocks or lock waits seen (retried by ours, lost by naive), failures,
UPDATEs of compute_nodes issued for hosts whose values had not changed, and the bytes InnoDB
wrote to its redo log per reconcile (the server's share of the cost, which a fleet's
hosts do not spread: they share one database).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timezone

import pymysql
from sqlalchemy import Engine, create_engine, event, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from resource_tracker.db.api import Database
from resource_tracker.db.errors import mysql_code
from resource_tracker.db.models import compute_nodes, services
from resource_tracker.resources import ComputeNodeValues
from tests.support.mariadb import MariaDBServer
from tests.support.nodes import NODE

LOCK_ERRORS = (1205, 1213)


@dataclasses.dataclass
class Tally:
    """What one way did in one run; shared by its writer threads."""

    latencies_s: list[float] = dataclasses.field(default_factory=list)
    steady_s: float = 0.0
    lock_errors: int = 0
    failures: Counter = dataclasses.field(default_factory=Counter)
    unchanged_updates: int = 0
    redo_bytes: int = 0
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    def add(self, **counts) -> None:
        with self.lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)


class Writer:
    """One connection's worth of daemons: reconciles its hosts, one transaction each."""

    unchanged = threading.local()  # set while reconciling a host whose values are the same

    def __init__(self, tally: Tally):
        self.tally = tally

    def engine(self) -> Engine:
        raise NotImplementedError

    def reconcile(self, host: str, values: ComputeNodeValues) -> None:
        raise NotImplementedError

    def watch_updates(self) -> None:
        def count(_conn, _cursor, statement, *_args) -> None:
            if statement.startswith("UPDATE compute_nodes") and Writer.unchanged.value:
                self.tally.add(unchanged_updates=1)

        event.listen(self.engine(), "before_cursor_execute", count)


class OurWriter(Writer):
    def __init__(self, url: str, tally: Tally):
        super().__init__(tally)
        self.database = Database(url, on_retry=self._retried)
        self.watch_updates()

    def engine(self) -> Engine:
        return self.database.engine

    def reconcile(self, host: str, values: ComputeNodeValues) -> None:
        self.database.reconcile_compute_nodes(host, [values])

    def _retried(self, error: DBAPIError) -> None:
        if mysql_code(error) in LOCK_ERRORS:
            self.tally.add(lock_errors=1)


class NaiveWriter(Writer):
    def __init__(self, url: str, tally: Tally):
        super().__init__(tally)
        self._engine = create_engine(url, pool_size=1)
        self.watch_updates()

    def engine(self) -> Engine:
        return self._engine

    def reconcile(self, host: str, values: ComputeNodeValues) -> None:
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        try:
            with self._engine.begin() as connection:
                service_id = connection.execute(
                    select(services.c.id).filter_by(host=host, deleted=0)
                ).scalar()
                if service_id is None:
                    service_id = connection.execute(
                        services.insert().values(
                            host=host,
                            binary="resource-tracker",
                            report_count=1,
                            disabled=False,
                            deleted=0,
                            created_at=now,
                            updated_at=now,
                        )
                    ).inserted_primary_key[0]
                else:
                    connection.execute(
                        services.update()
                        .where(services.c.id == service_id)
                        .values(report_count=services.c.report_count + 1, updated_at=now)
                    )
                columns = dataclasses.asdict(values) | {"service_id": service_id}
                node_id = connection.execute(
                    select(compute_nodes.c.id).filter_by(
                        host=host, hypervisor_hostname=values.hypervisor_hostname, deleted=0
                    )
                ).scalar()
                if node_id is None:
                    connection.execute(
                        compute_nodes.insert().values(
                            columns
                            | {"uuid": str(uuid.uuid4()), "host": host, "deleted": 0}
                            | {"created_at": now}
                        )
                    )
                else:
                    connection.execute(
                        compute_nodes.update()
                        .where(compute_nodes.c.id == node_id)
                        .values(columns | {"updated_at": now})
                    )
        except DBAPIError as error:
            if mysql_code(error) in LOCK_ERRORS:
                self.tally.add(lock_errors=1)
            raise


WAYS: dict[str, Callable[[str, Tally], Writer]] = {"ours": OurWriter, "naive": NaiveWriter}


def host_values(index: int, version: int) -> ComputeNodeValues:
    return dataclasses.replace(
        NODE, hypervisor_hostname=f"node-{index:05}", vcpus_used=version % 64
    )


def run_way(way: str, url: str, args) -> Tally:
    tally = Tally()
    writers = [WAYS[way](url, tally) for _ in range(args.writers)]
    versions = [0] * args.hosts
    rng = random.Random(42)
    for round_ in range(args.rounds + 1):
        changing = (
            set(range(args.hosts))
            if round_ == 0
            else set(rng.sample(range(args.hosts), int(args.hosts * args.change)))
        )
        for index in changing:
            versions[index] += 1
        redo_before = redo_log_bytes(url)
        started = time.perf_counter()
        run_round(writers, args.hosts, versions, changing, tally, steady=round_ > 0)
        if round_ > 0:
            tally.steady_s += time.perf_counter() - started
            tally.redo_bytes += redo_log_bytes(url) - redo_before
    for writer in writers:
        writer.engine().dispose()
    return tally


def run_round(writers, hosts: int, versions, changing: set[int], tally: Tally, steady: bool):
    def work(offset: int) -> None:
        writer = writers[offset]
        latencies = []
        for index in range(offset, hosts, len(writers)):
            Writer.unchanged.value = index not in changing
            started = time.perf_counter()
            try:
                writer.reconcile(f"host-{index:05}", host_values(index, versions[index]))
            except Exception as error:  # a lost reconcile: counted, the run goes on
                with tally.lock:
                    tally.failures[type(error).__name__] += 1
                continue
            latencies.append(time.perf_counter() - started)
        if steady:
            with tally.lock:
                tally.latencies_s.extend(latencies)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(len(writers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def admin_connection(server_url: str) -> pymysql.Connection:
    url = make_url(server_url)
    return pymysql.connect(
        host=url.host, port=url.port or 3306, user=url.username, password=url.password or ""
    )


def redo_log_bytes(server_url: str) -> int:
    """What InnoDB has written to its redo log so far: the server's cost of our writes."""
    admin = admin_connection(server_url)
    with admin, admin.cursor() as cursor:
        cursor.execute("SHOW GLOBAL STATUS LIKE 'Innodb_os_log_written'")
        return int(cursor.fetchone()[1])


def fresh_database(server_url: str, name: str) -> str:
    admin = admin_connection(server_url)
    with admin, admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {name}")
        cursor.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def summarize(tally: Tally, args) -> dict[str, float]:
    latencies = sorted(tally.latencies_s)
    steady = args.hosts * args.rounds
    return {
        "reconciles/s": steady / tally.steady_s,
        "p50 ms": 1000 * statistics.median(latencies) if latencies else float("nan"),
        "p99 ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))] if latencies else 0,
        "deadlocks+lock waits": tally.lock_errors,
        "failed": sum(tally.failures.values()),
        "UPDATEs unchanged": tally.unchanged_updates,
        "redo B/reconcile": tally.redo_bytes / steady,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3, help="rounds after registration")
    parser.add_argument("--change", type=float, default=0.1, help="share changing per round")
    parser.add_argument("--writers", type=int, default=100, help="concurrent connections")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--url", help="a MySQL/MariaDB server (default: a private mariadbd)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="fleet-bench-") as basedir:
        server = None
        server_url = args.url
        if server_url is None:
            server = MariaDBServer(basedir)
            server.initialize()
            server.start()
            server_url = server.url()
        try:
            results = {way: [] for way in WAYS}
            for run in range(args.runs):
                for way in WAYS if run % 2 == 0 else reversed(WAYS):  # neither always first
                    url = fresh_database(server_url, f"fleet_bench_{way}")
                    with Database(url) as database:
                        database.sync_schema()
                    results[way].append(summarize(run_way(way, url, args), args))
                    print(f"run {run + 1} {way}: {results[way][-1]}", file=sys.stderr)
        finally:
            if server is not None:
                server.stop()

    print(
        f"{args.hosts} hosts, {args.writers} writers, {args.rounds} rounds after registration, "
        f"{args.change:.0%} changing per round; medians of {args.runs} runs"
    )
    columns = list(results["ours"][0])
    print("| way | " + " | ".join(columns) + " |")
    print("| --- |" + " ---: |" * len(columns))
    for way, runs in results.items():
        cells = [statistics.median(run[column] for run in runs) for column in columns]
        print(
            f"| {way} | "
            + " | ".join(f"{cell:,.1f}" if cell % 1 else f"{cell:,.0f}" for cell in cells)
            + " |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
