"""Many trackers at once, each with its own Database (its own pool), as separate daemons are."""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Callable

from sqlalchemy import func, select

from resource_tracker.db.api import Database
from resource_tracker.db.models import compute_nodes, services
from tests.support.nodes import node
from tests.support.paths import BIN

WRITERS = 60
ROUNDS = 4


def run_together(count: int, work: Callable[[int], None]) -> list[BaseException]:
    """Run work(0..count-1) in threads released at the same instant; the errors raised."""
    start = threading.Barrier(count)
    failures: list[BaseException] = []

    def one(index: int) -> None:
        start.wait()
        try:
            work(index)
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=one, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    return failures


def count_rows(database: Database, table, **where) -> int:
    with database.engine.connect() as connection:
        query = select(func.count()).select_from(table).filter_by(**where)
        return connection.execute(query).scalar_one()


def test_two_trackers_of_one_host_racing_keep_one_live_row(database, db_url):
    trackers = [Database(db_url) for _ in range(2)]

    def track(index: int) -> None:
        for round_ in range(25):
            # both start from nothing, then disagree on a value, then one renames the node
            name = "node-1" if round_ < 20 else f"renamed-{index}"
            trackers[index].reconcile_compute_nodes(
                "compute-1", [node(hypervisor_hostname=name, vcpus_used=round_ + index)]
            )

    try:
        failures = run_together(2, track)
    finally:
        for tracker in trackers:
            tracker.dispose()

    assert failures == []
    live = database.compute_nodes("compute-1")
    assert len(live) == 1 and live[0].hypervisor_hostname.startswith("renamed-")
    assert count_rows(database, services, host="compute-1", deleted=0) == 1
    # each name has one row, live or soft-deleted: the renames revived rows, never added any
    assert count_rows(database, compute_nodes, host="compute-1") == 3
    (service,) = database.services("compute-1")
    assert service.report_count == 50


def test_many_writers_for_different_hosts_never_fail(database, db_url):
    writers = [Database(db_url) for _ in range(WRITERS)]

    def track(index: int) -> None:
        for round_ in range(ROUNDS):
            # every round half of the hosts change: inserts, updates and no-ops interleave
            changed = round_ if index % 2 else 0
            writers[index].reconcile_compute_nodes(
                f"compute-{index:03}", [node(vcpus_used=changed)]
            )

    try:
        failures = run_together(WRITERS, track)
    finally:
        for writer in writers:
            writer.dispose()

    assert failures == []
    nodes = database.compute_nodes()
    assert [n.host for n in nodes] == [f"compute-{index:03}" for index in range(WRITERS)]
    assert [n.vcpus_used for n in nodes] == [ROUNDS - 1 if i % 2 else 0 for i in range(WRITERS)]
    assert {s.report_count for s in database.services()} == {ROUNDS}


def test_daemons_of_one_host_started_at_once_keep_one_live_row(tmp_path, mixed_host, database):
    conf = tmp_path / "rt.conf"
    conf.write_text(
        f"[DEFAULT]\nhost = compute-1\ninstances_path = {mixed_host.instances}\n"
        f"[libvirt]\nconnection_uri = {mixed_host.uri}\n[database]\nconnection = {database.url}\n"
    )
    command = [os.path.join(BIN, "resource-tracker"), "--config-file", str(conf), "--once"]

    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(6)]
    outputs = [process.communicate(timeout=120)[0] for process in processes]

    assert [process.returncode for process in processes] == [0] * 6
    assert sum("row updated" in output for output in outputs) >= 1
    assert len(database.compute_nodes("compute-1")) == 1
    assert count_rows(database, compute_nodes, host="compute-1") == 1
    (service,) = database.services("compute-1")
    assert service.report_count == 6
