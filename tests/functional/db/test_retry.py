"""A reconcile that another writer blocks is rolled back by the database and run again."""

from __future__ import annotations

from sqlalchemy import event, text
from sqlalchemy.engine import make_url

from resource_tracker.db.api import Database
from resource_tracker.db.errors import mysql_code
from tests.support.nodes import node


def blocked_database(url: str, session_setting: str, released: list) -> Database:
    """A Database whose lock waits end after a moment, and that releases `released` on retry."""

    def release(error) -> None:
        released.append(mysql_code(error) or str(error.orig))
        holder_transaction, holder = released.pop(0)
        holder_transaction.rollback()
        holder.close()

    database = Database(url, on_retry=release)
    event.listen(
        database.engine,
        "connect",
        lambda dbapi_connection, _record: dbapi_connection.cursor().execute(session_setting),
    )
    return database


def hold_lock(database: Database, statement: str) -> tuple:
    holder = database.engine.connect()
    transaction = holder.begin()
    holder.execute(text(statement))
    return transaction, holder


# per database: how another writer holds our rows, how to make our wait short, what we see
BLOCKERS = {
    "mysql": ("SELECT * FROM services FOR UPDATE", "SET innodb_lock_wait_timeout = 1", 1205),
    "sqlite": (
        "UPDATE services SET disabled = 0",
        "PRAGMA busy_timeout = 100",
        "database is locked",
    ),
}


def test_a_blocked_reconcile_is_rolled_back_and_retried(db_url):
    hold, short_wait, seen = BLOCKERS[make_url(db_url).get_backend_name()]
    setup = Database(db_url)
    setup.sync_schema()
    setup.reconcile_compute_nodes("compute-1", [node()])
    released: list = [hold_lock(setup, hold)]
    database = blocked_database(db_url, short_wait, released)

    assert database.reconcile_compute_nodes("compute-1", [node(vcpus_used=1)]) is True

    assert released == [seen] and database.retries == 1
    assert database.compute_nodes("compute-1")[0].vcpus_used == 1
    (service,) = database.services("compute-1")
    assert service.report_count == 2
    database.dispose()
    setup.dispose()
