"""A reconcile that another writer blocks is rolled back by the database and run again,
a bounded number of times."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import make_url

from resource_tracker.db.api import Database
from resource_tracker.db.errors import mysql_code
from resource_tracker.db.retry import RetryPolicy
from resource_tracker.exception import DatabaseUnavailable
from resource_tracker.timeouts import DB_LOCK_WAIT_S
from tests.support.nodes import node

# per database: how another writer holds our rows, how to make our wait short, what we see
BLOCKERS = {
    "mysql": ("SELECT * FROM services FOR UPDATE", "SET innodb_lock_wait_timeout = 1", 1205),
    "sqlite": (
        "UPDATE services SET disabled = 0",
        "PRAGMA busy_timeout = 100",
        "database is locked",
    ),
}


class Blocked:
    """A database whose services row another connection holds locked until release()."""

    def __init__(self, url: str):
        self.url = url
        hold, self.short_wait, self.seen = BLOCKERS[make_url(url).get_backend_name()]
        self.setup = Database(url)
        self.setup.sync_schema()
        self.setup.reconcile_compute_nodes("compute-1", [node()])
        self.holder = self.setup.engine.connect()
        self.transaction = self.holder.begin()
        self.holder.execute(text(hold))
        self.errors: list = []

    def database(self, retry: RetryPolicy, release_on_retry: bool) -> Database:
        """A Database whose lock waits end quickly; it may release the lock when it retries."""

        def retried(error) -> None:
            self.errors.append(mysql_code(error) or str(error.orig))
            if release_on_retry:
                self.release()

        database = Database(self.url, retry=retry, on_retry=retried)
        event.listen(
            database.engine,
            "connect",
            lambda dbapi_connection, _record: dbapi_connection.cursor().execute(self.short_wait),
        )
        return database

    def release(self) -> None:
        if self.transaction.is_active:
            self.transaction.rollback()


@pytest.fixture
def blocked(db_url):
    blocked = Blocked(db_url)
    yield blocked
    blocked.release()
    blocked.holder.close()
    blocked.setup.dispose()


def test_a_blocked_reconcile_is_rolled_back_and_retried(blocked):
    database = blocked.database(RetryPolicy(), release_on_retry=True)

    assert database.reconcile_compute_nodes("compute-1", [node(vcpus_used=1)]).changed is True

    assert blocked.errors == [blocked.seen] and database.retries == 1
    assert database.compute_nodes("compute-1")[0].vcpus_used == 1
    (service,) = database.services("compute-1")
    assert service.report_count == 2
    database.dispose()


def test_retries_are_bounded(blocked):
    database = blocked.database(RetryPolicy(attempts=3), release_on_retry=False)

    with pytest.raises(DatabaseUnavailable) as raised:
        database.reconcile_compute_nodes("compute-1", [node(vcpus_used=1)])

    assert blocked.errors == [blocked.seen] * 2  # three runs: two retries, then it gives up
    assert str(blocked.seen) in str(raised.value)
    blocked.release()
    assert database.compute_nodes("compute-1")[0].vcpus_used == 20  # nothing half-written
    database.dispose()


@pytest.mark.mysql
def test_a_lock_held_by_another_session_costs_one_short_wait(mysql_url):
    """Our sessions wait timeouts.DB_LOCK_WAIT_S for a lock, not InnoDB's 50 s default."""
    blocked = Blocked(mysql_url)
    database = Database(mysql_url, retry=RetryPolicy(attempts=1))
    started = time.monotonic()

    with pytest.raises(DatabaseUnavailable, match="1205"):
        database.reconcile_compute_nodes("compute-1", [node(vcpus_used=1)])

    waited = time.monotonic() - started
    blocked.release()
    blocked.holder.close()
    blocked.setup.dispose()
    database.dispose()
    assert DB_LOCK_WAIT_S - 0.5 <= waited <= DB_LOCK_WAIT_S + 3, waited


def test_retries_stop_when_their_time_budget_is_spent(blocked):
    database = blocked.database(RetryPolicy(attempts=100, budget_s=2.0), release_on_retry=False)
    started = time.monotonic()

    with pytest.raises(DatabaseUnavailable):
        database.reconcile_compute_nodes("compute-1", [node(vcpus_used=1)])

    # no run starts after the budget: at most one more lock wait (1 s) and one pause (1 s)
    assert time.monotonic() - started <= 2.0 + 1 + 1 + 1.5
    assert 1 <= len(blocked.errors) < 10
    database.dispose()
