"""The database server goes away under a live Database and comes back.

The test runs its own mariadbd (own data directory and port), since it stops and starts it.
"""

from __future__ import annotations

import pytest

from resource_tracker.db.api import Database
from resource_tracker.exception import DatabaseUnavailable
from tests.support.mariadb import TRACKER_PASSWORD as PASSWORD
from tests.support.nodes import node


def assert_reported_without_password(raised: pytest.ExceptionInfo, port: int) -> None:
    message = str(raised.value)
    assert message.startswith(f"database mysql+pymysql://tracker:***@127.0.0.1:{port}/rt")
    assert "Can't connect" in message or "Lost connection" in message, message
    assert PASSWORD not in message and "\n" not in message


@pytest.mark.mysql
def test_a_database_survives_the_server_going_away_and_coming_back(private_mariadb):
    database = Database(private_mariadb.tracker_url)
    database.sync_schema()
    assert database.reconcile_compute_nodes("compute-1", [node()]).changed

    private_mariadb.stop()
    for vcpus_used in (21, 22):  # audits during the outage fail, one error each
        with pytest.raises(DatabaseUnavailable) as raised:
            database.reconcile_compute_nodes("compute-1", [node(vcpus_used=vcpus_used)])
        assert_reported_without_password(raised, private_mariadb.port)
    with pytest.raises(DatabaseUnavailable) as raised:
        database.check_schema()
    assert_reported_without_password(raised, private_mariadb.port)

    private_mariadb.start()
    assert database.reconcile_compute_nodes("compute-1", [node(vcpus_used=23)]).changed is True

    (row,) = database.compute_nodes("compute-1")
    (service,) = database.services("compute-1")
    assert (row.vcpus_used, service.report_count) == (23, 2)
    database.dispose()
