"""Faults a fresh database connection cures are cured under a running daemon, no restart.

Real faults: the state path (a tmpfs holding the embedded SQLite database) remounted
read-only and back, as ext4 does with errors=remount-ro; the daemon's MariaDB connections
killed server-side (KILL CONNECTION) between two audits.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pymysql
import pytest

from tests.functional.test_daemon import scrape
from tests.support.daemon import Daemon
from tests.support.mariadb import free_port
from tests.support.notify import NotifyListener
from tests.support.paths import BIN
from tests.support.waiting import wait_for

AUDITED = r"(INFO|DEBUG) .*audit: compute-1: vCPUs"  # an audit that changed nothing: DEBUG
STATUS_NEEDS_OPERATOR = re.compile(r"STATUS=audit failed: database .*denied.*; needs an operator$")
INTERVAL_S = 1


@pytest.fixture
def notify(tmp_path) -> Iterator[NotifyListener]:
    listener = NotifyListener(str(tmp_path / "notify.sock"))
    yield listener
    listener.close()


@pytest.fixture
def tmpfs_state(tmp_path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting and remounting a tmpfs state path needs root")
    state = tmp_path / "state"
    state.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m", "rt-state", state], check=True)
    try:
        yield state
    finally:
        subprocess.run(
            ["umount", "--lazy", state], check=True
        )  # lazy: a failed test may hold a file


def remount(path: Path, mode: str) -> None:
    done = subprocess.run(
        ["mount", "-o", f"remount,{mode}", str(path)], capture_output=True, text=True
    )
    assert done.returncode == 0, f"remount,{mode}: {done.stderr}"


def write_config(tmp_path: Path, state: Path, host, database: str | None, port: int) -> str:
    path = tmp_path / "resource-tracker.conf"
    connection = f"[database]\nconnection = {database}\n" if database else ""
    path.write_text(
        f"[DEFAULT]\nhost = compute-1\nstate_path = {state}\n"
        f"instances_path = {host.instances}\nperiodic_fuzzy_delay = 0\ndebug = true\n"
        f"update_resources_interval = {INTERVAL_S}\n"
        "report_interval = 0\n"  # every audit goes to the database: the one after a fault
        f"[libvirt]\nconnection_uri = {host.uri}\n{connection}"
        f"[metrics]\nlisten = 127.0.0.1:{port}\n"
    )
    return str(path)


def failures(notify: NotifyListener, since: float) -> int:
    return sum(t.startswith("STATUS=audit failed:") for t in notify.texts(since))


def test_sqlite_writes_again_once_its_file_system_is_read_write(
    tmp_path, tmpfs_state, mixed_host, notify
):
    port = free_port()
    conf = write_config(tmp_path, tmpfs_state, mixed_host, None, port)  # the embedded default
    daemon = Daemon(conf, notify.env(60))
    try:
        assert daemon.wait_for_log(AUDITED, timeout_s=30), daemon.log

        # nothing holds the database open between audits, so a remount,ro is not refused
        since = time.monotonic()
        remount(tmpfs_state, "ro")
        try:
            assert daemon.wait_for_log(
                r"WARNING .*audit failed: database sqlite:///.*readonly database", timeout_s=10
            ), daemon.log
            assert notify.wait_for("STATUS=audit failed: database sqlite:///", 5)
        finally:
            back = time.monotonic()
            remount(tmpfs_state, "rw")
        failed = failures(notify, since)

        # the next audit is due within one period doubled per failure (one more may fail
        # while the remount,rw is on its way); it writes, on a new connection
        due_s = INTERVAL_S * 2**failed
        assert daemon.wait_for_log(r"INFO .*audit succeeded after \d+ failed", 1, due_s + 2), (
            daemon.log
        )
        assert time.monotonic() - back <= due_s + 2
        assert wait_for(lambda: scrape(port, "/healthz")[0] == 200, 5)
        assert daemon.process.poll() is None
    finally:
        daemon.stop()
    assert daemon.count(r"WARNING .*audit failed") == 1, daemon.log


def tracker_connections(admin: pymysql.Connection) -> list[int]:
    with admin.cursor() as cursor:
        cursor.execute("SELECT id FROM information_schema.processlist WHERE user = 'tracker'")
        return [row[0] for row in cursor.fetchall()]


class OnMariaDB(NamedTuple):
    daemon: Daemon
    admin: pymysql.Connection  # root on the private server
    port: int  # of the daemon's metrics server


@pytest.fixture
def on_mariadb(tmp_path, mixed_host, private_mariadb, notify) -> Iterator[OnMariaDB]:
    """A daemon writing to the private MariaDB as its `tracker` user, after its first audit."""
    port = free_port()
    conf = write_config(tmp_path, tmp_path, mixed_host, private_mariadb.tracker_url, port)
    manage = os.path.join(BIN, "resource-tracker-manage")
    subprocess.run([manage, "--config-file", conf, "db", "sync"], check=True, capture_output=True)
    daemon = Daemon(conf, notify.env(60))
    admin = pymysql.connect(host="127.0.0.1", port=private_mariadb.port, user="root")
    try:
        assert daemon.wait_for_log(AUDITED, timeout_s=30), daemon.log
        yield OnMariaDB(daemon, admin, port)
    finally:
        admin.close()
        daemon.stop()


@pytest.mark.mysql
def test_a_killed_mariadb_connection_is_replaced_on_the_next_try(on_mariadb):
    daemon, admin = on_mariadb.daemon, on_mariadb.admin
    for _ in range(2):  # killed twice: each time, the next audit uses a fresh one
        time.sleep(0.3)  # between two audits (one a second, ~10 ms each)
        killed = tracker_connections(admin)
        assert killed, "the daemon keeps its connection between audits"
        with admin.cursor() as cursor:
            for connection_id in killed:
                cursor.execute(f"KILL CONNECTION {connection_id}")
        audits = daemon.count(AUDITED)
        assert daemon.wait_for_log(AUDITED, audits + 1, timeout_s=5), daemon.log
        assert not set(killed) & set(tracker_connections(admin))
    assert daemon.process.poll() is None
    assert daemon.count(r"audit failed") == 0, daemon.log


@pytest.mark.mysql
def test_a_fault_that_needs_a_person_says_so_in_status_and_health(on_mariadb, notify):
    daemon, admin, port = on_mariadb
    with admin.cursor() as cursor:
        cursor.execute("REVOKE ALL ON rt.* FROM 'tracker'@'127.0.0.1'")
        for connection_id in tracker_connections(admin):  # a grant counts at connect
            cursor.execute(f"KILL CONNECTION {connection_id}")
    assert wait_for(lambda: any(STATUS_NEEDS_OPERATOR.match(t) for t in notify.texts()), 10), (
        notify.texts()
    )
    # at once, not after the healthy intervals a fault that may pass is given
    status, body = scrape(port, "/healthz")
    assert status == 503 and body.endswith("; needs an operator\n") and "denied" in body, body
    assert body.count("\n") == 1

    with admin.cursor() as cursor:
        cursor.execute("GRANT ALL ON rt.* TO 'tracker'@'127.0.0.1'")
    assert daemon.wait_for_log(r"INFO .*audit succeeded after", timeout_s=10), daemon.log
    assert wait_for(lambda: scrape(port, "/healthz")[0] == 200, 5)
    assert daemon.count(r"WARNING .*audit failed: database .*; needs an operator") == 1, daemon.log
