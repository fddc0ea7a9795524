"""The database users of docs/install.md, created by running its own SQL on a private server:
the daemon works with rows only, db sync needs the admin user, operators read and no more."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pymysql
import pytest

from resource_tracker.db.api import Database
from tests.support.mariadb import MariaDBServer
from tests.support.paths import BIN, ROOT

pytestmark = pytest.mark.mysql
DATABASE = "resource_tracker"


def documented_sql() -> list[str]:
    """The statements of the docs' block that creates the database and its users."""
    with open(os.path.join(ROOT, "docs", "install.md"), encoding="utf-8") as page:
        blocks = re.findall(r"```sql\n(.*?)```", page.read(), re.S)
    (block,) = [block for block in blocks if f"CREATE DATABASE {DATABASE}" in block]
    lines = [line for line in block.splitlines() if not line.startswith("--")]
    return [" ".join(s.split()) for s in "\n".join(lines).split(";") if s.strip()]


def password(statements: list[str], user: str) -> str:
    (found,) = [
        re.search(r"IDENTIFIED BY '([^']*)'", s).group(1)  # type: ignore[union-attr]
        for s in statements
        if s.startswith(f"CREATE USER '{user}'@")
    ]
    return found


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = MariaDBServer(str(tmp_path_factory.mktemp("grants-mariadb")))
    server.initialize()
    server.start()
    try:
        statements = documented_sql()
        with root(server) as connection, connection.cursor() as cursor:
            for statement in statements:
                # '%' is any host; this server's clients come from 127.0.0.1
                cursor.execute(statement.replace("'@'%'", "'@'127.0.0.1'"))
        server.urls = {
            user: f"mysql+pymysql://{user}:{password(statements, user)}@127.0.0.1:{server.port}/"
            f"{DATABASE}"
            for user in ("tracker", "tracker_admin", "tracker_ro")
        }
        yield server
    finally:
        server.stop()


def root(server):
    return pymysql.connect(host="127.0.0.1", port=server.port, user="root", autocommit=True)


@pytest.fixture
def urls(server):
    """The three users' URLs, on an empty database (the grants are the database's: they stay)."""
    with root(server) as connection, connection.cursor() as cursor:
        cursor.execute(f"DROP DATABASE {DATABASE}")
        cursor.execute(f"CREATE DATABASE {DATABASE} CHARACTER SET utf8mb4")
    return server.urls


@pytest.fixture
def as_user(config, urls, tmp_path):
    """Run a command with the daemon's config, then a second file naming `user`'s URL."""

    def run(user: str, command: str, *args: str) -> subprocess.CompletedProcess:
        daemon_conf = config(database=urls["tracker"])
        files = ["--config-file", daemon_conf]
        if user != "tracker":
            override = tmp_path / f"{user}.conf"
            override.write_text(f"[database]\nconnection = {urls[user]}\n")
            files += ["--config-file", str(override)]
        return subprocess.run(
            [os.path.join(BIN, command), *files, *args], capture_output=True, text=True, timeout=60
        )

    return run


def one_line_failure(result, *fragments: str) -> None:
    assert result.returncode == 1, result
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert ":***@" in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


def test_db_sync_needs_the_admin_user(as_user):
    one_line_failure(
        as_user("tracker", "resource-tracker-manage", "db", "sync"),
        "CREATE command denied to user 'tracker'",
    )
    result = as_user("tracker_admin", "resource-tracker-manage", "db", "sync")
    assert result.returncode == 0, result.stderr
    assert "upgraded from nothing to" in result.stdout


def test_the_daemon_writes_with_rows_only(as_user, urls):
    assert as_user("tracker_admin", "resource-tracker-manage", "db", "sync").returncode == 0
    for _ in range(2):  # the insert, then the update of the heartbeat
        result = as_user("tracker", "resource-tracker", "--once")
        assert result.returncode == 0, result.stderr
    with Database(urls["tracker"]) as database:
        (node,) = database.compute_nodes()
        (service,) = database.services()
    assert (node.host, service.report_count) == ("compute-1", 2)
    # and it may not remove rows, nor change the schema
    one_line_failure(
        as_user(
            "tracker", "resource-tracker-manage", "db", "purge", "--before", "2100-01-01", "--yes"
        ),
        "DELETE command denied",
    )
    with (
        pytest.raises(pymysql.err.OperationalError, match="1142"),
        pymysql.connect(**_args(urls["tracker"])) as connection,
        connection.cursor() as cursor,
    ):
        cursor.execute("ALTER TABLE compute_nodes ADD COLUMN x INT")


def test_operators_read_and_cannot_write(as_user):
    assert as_user("tracker_admin", "resource-tracker-manage", "db", "sync").returncode == 0
    assert as_user("tracker", "resource-tracker", "--once").returncode == 0
    for command in (
        ["nodes", "list"],
        ["nodes", "show", "compute-1"],
        ["services", "list"],
        ["storage", "list"],
    ):
        result = as_user("tracker_ro", "resource-tracker-manage", *command, "--format", "json")
        assert result.returncode == 0, (command, result.stderr)
        assert "compute-1" in result.stdout
    nodes = json.loads(
        as_user(
            "tracker_ro", "resource-tracker-manage", "nodes", "list", "--format", "json"
        ).stdout
    )
    assert [node["host"] for node in nodes] == ["compute-1"]
    one_line_failure(
        as_user(
            "tracker_ro", "resource-tracker-manage", "nodes", "delete", "compute-1", "--force"
        ),
        "UPDATE command denied to user 'tracker_ro'",
    )
    one_line_failure(
        as_user("tracker_ro", "resource-tracker", "--once"),
        "UPDATE command denied to user 'tracker_ro'",
    )


def test_housekeeping_as_the_admin_user(as_user):
    assert as_user("tracker_admin", "resource-tracker-manage", "db", "sync").returncode == 0
    assert as_user("tracker", "resource-tracker", "--once").returncode == 0
    deleted = as_user(
        "tracker_admin", "resource-tracker-manage", "services", "delete", "compute-1", "--force"
    )
    assert deleted.returncode == 0, deleted.stderr
    purged = as_user(
        "tracker_admin",
        "resource-tracker-manage",
        "db",
        "purge",
        "--before",
        "2100-01-01",
        "--yes",
    )
    assert purged.returncode == 0, purged.stderr
    assert "removed 1 compute_nodes row(s) and 1 services" in purged.stdout


def _args(url: str) -> dict:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return {
        "host": parsed.host,
        "port": parsed.port,
        "user": parsed.username,
        "password": parsed.password,
        "database": parsed.database,
    }
