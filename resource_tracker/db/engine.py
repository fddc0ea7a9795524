"""Engines for the two databases we support, tuned for a daemon that writes every period."""

from __future__ import annotations

import os

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url

# PyMySQL waits forever for an answer by default: a server that hangs would hold the audit's
# worker thread for good. Above innodb_lock_wait_timeout (50 s), so a lock wait ends as 1205.
MYSQL_TIMEOUTS_S = {"connect_timeout": 10, "read_timeout": 60, "write_timeout": 60}


def make_engine(url: str | URL) -> Engine:
    url = make_url(url)
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url)
        event.listen(engine, "connect", _tune_sqlite)
        return engine
    url = url.set(query={"charset": "utf8mb4", **url.query})
    connect_args = {name: s for name, s in MYSQL_TIMEOUTS_S.items() if name not in url.query}
    return create_engine(
        url,
        connect_args=connect_args,
        # a database restarted between two audits costs one reconnect, not a failure
        pool_pre_ping=True,
        pool_recycle=3600,
        # READ COMMITTED takes no gap locks on searches, so two hosts registering at once do
        # not deadlock on the gap between their keys; each statement sees the latest commit.
        isolation_level="READ COMMITTED",
    )


def masked(url: str | URL) -> str:
    """The URL as it may appear in logs and messages: never with its password."""
    return make_url(url).render_as_string(hide_password=True)


def password(url: str | URL) -> str | None:
    return make_url(url).password


def sqlite_directory(url: str | URL) -> str | None:
    """The directory a SQLite file database lives in, or None for other databases."""
    url = make_url(url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return os.path.dirname(os.path.abspath(url.database))


def _tune_sqlite(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets `resource-tracker-manage nodes list` read while the daemon writes.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
