"""The database server goes away under a live Database and comes back.

The test runs its own mariadbd (own data directory and port), since it stops and starts it.
"""

from __future__ import annotations

import pymysql
import pytest

from resource_tracker.db.api import Database
from resource_tracker.exception import DatabaseUnavailable
from tests.support.mariadb import MariaDBServer
from tests.support.nodes import node

PASSWORD = "s3cret-pw"


@pytest.fixture
def server(tmp_path):
    server = MariaDBServer(str(tmp_path / "mariadb"))
    server.initialize()
    server.start()
    admin = pymysql.connect(host="127.0.0.1", port=server.port, user="root")
    with admin, admin.cursor() as cursor:
        cursor.execute("CREATE DATABASE rt CHARACTER SET utf8mb4")
        cursor.execute(f"CREATE USER 'tracker'@'127.0.0.1' IDENTIFIED BY '{PASSWORD}'")
        cursor.execute("GRANT ALL ON rt.* TO 'tracker'@'127.0.0.1'")
    yield server
    server.stop()


def assert_reported_without_password(raised: pytest.ExceptionInfo, port: int) -> None:
    message = str(raised.value)
    assert message.startswith(f"database mysql+pymysql://tracker:***@127.0.0.1:{port}/rt")
    assert "Can't connect" in message or "Lost connection" in message, message
    assert PASSWORD not in message and "\n" not in message


@pytest.mark.mysql
def test_a_database_survives_the_server_going_away_and_coming_back(server):
    database = Database(f"mysql+pymysql://tracker:{PASSWORD}@127.0.0.1:{server.port}/rt")
    database.sync_schema()
    assert database.reconcile_compute_nodes("compute-1", [node()])

    server.stop()
    for vcpus_used in (21, 22):  # audits during the outage fail, one error each
        with pytest.raises(DatabaseUnavailable) as raised:
            database.reconcile_compute_nodes("compute-1", [node(vcpus_used=vcpus_used)])
        assert_reported_without_password(raised, server.port)
    with pytest.raises(DatabaseUnavailable) as raised:
        database.check_schema()
    assert_reported_without_password(raised, server.port)

    server.start()
    assert database.reconcile_compute_nodes("compute-1", [node(vcpus_used=23)]) is True

    (row,) = database.compute_nodes("compute-1")
    (service,) = database.services("compute-1")
    assert (row.vcpus_used, service.report_count) == (23, 2)
    database.dispose()
