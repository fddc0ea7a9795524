"""A connection gone bad is replaced, not kept: killed in the middle of a reconcile, or left
on a server that turned read-only (a failover's old primary), on the suite's private MariaDB;
a SQLite connection opened while its file system was read-only, on a tmpfs."""

from __future__ import annotations

import os
import subprocess

import pymysql
import pytest
from sqlalchemy import event, text

from resource_tracker.db.api import Database
from resource_tracker.exception import DatabaseUnavailable
from tests.support.nodes import node


def admin(server) -> pymysql.Connection:
    return pymysql.connect(host="127.0.0.1", port=server.port, user="root", autocommit=True)


def connection_id(database: Database) -> int:
    with database.engine.connect() as connection:
        return connection.execute(text("SELECT CONNECTION_ID()")).scalar_one()


@pytest.mark.mysql
def test_a_connection_killed_mid_reconcile_is_replaced_and_the_reconcile_runs_again(
    private_mariadb,
):
    database = Database(private_mariadb.tracker_url)
    database.sync_schema()
    database.reconcile_compute_nodes("compute-1", [node()])
    killed: list[int] = []

    @event.listens_for(database.engine, "before_cursor_execute")
    def kill_once(connection, _cursor, statement, *_args):
        if not killed and statement.startswith("UPDATE"):
            killed.append(connection.connection.dbapi_connection.thread_id())
            with admin(private_mariadb) as root, root.cursor() as cursor:
                cursor.execute(f"KILL CONNECTION {killed[0]}")

    with database:
        assert database.reconcile_compute_nodes("compute-1", [node(vcpus_used=9)]).changed
        (row,) = database.compute_nodes("compute-1")
        assert row.vcpus_used == 9
        assert database.retries == 1 and killed
        assert connection_id(database) != killed[0]


@pytest.mark.mysql
def test_a_connection_to_a_read_only_server_is_not_kept(private_mariadb):
    database = Database(private_mariadb.tracker_url)
    database.sync_schema()
    database.reconcile_compute_nodes("compute-1", [node()])
    before = connection_id(database)

    with database, admin(private_mariadb) as root, root.cursor() as cursor:
        cursor.execute("SET GLOBAL read_only = 1")
        try:
            with pytest.raises(DatabaseUnavailable, match="read-only") as raised:
                database.reconcile_compute_nodes("compute-1", [node(vcpus_used=9)])
            assert not raised.value.needs_operator
        finally:
            cursor.execute("SET GLOBAL read_only = 0")

        assert database.reconcile_compute_nodes("compute-1", [node(vcpus_used=9)]).changed
        assert connection_id(database) != before  # the pool was emptied


def test_a_sqlite_connection_opened_read_only_is_replaced_when_the_file_system_is_back(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting and remounting a tmpfs needs root")
    state = tmp_path / "state"
    state.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "rt-state", state], check=True)
    try:
        database = Database(f"sqlite:///{state}/rt.sqlite")
        database.sync_schema()
        database.reconcile_compute_nodes("compute-1", [node()])
        subprocess.run(["mount", "-o", "remount,ro", state], check=True)
        remounted: list[str] = []

        # the transaction opened the file read-only; it is read-write again by its first write
        @event.listens_for(database.engine, "before_cursor_execute")
        def back_to_rw(_connection, _cursor, statement, *_args):
            if not remounted and statement.startswith("UPDATE"):
                subprocess.run(["mount", "-o", "remount,rw", state], check=True)
                remounted.append(statement)

        with database:
            assert database.reconcile_compute_nodes("compute-1", [node(vcpus_used=9)]).changed
            assert remounted and database.retries == 1
            (row,) = database.compute_nodes("compute-1")
            assert row.vcpus_used == 9
    finally:
        subprocess.run(
            ["umount", "--lazy", state], check=True
        )  # lazy: a failed test may hold a file
