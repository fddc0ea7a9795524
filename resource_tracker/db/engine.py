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


def use_rollback_journal(engine: Engine) -> None:
    """Put a SQLite database in rollback-journal mode, once, where it is created or synced.

    Not WAL: a WAL database can be read only by whoever may create its -shm file, or while a
    writer has it open, so an operator with read access to a 0644 file could not read it
    with the daemon stopped. The daemon's one write a minute has no use for WAL's readers
    that never wait; a reader waits a few milliseconds for a commit (busy_timeout).
    """
    if engine.url.get_backend_name() == "sqlite":
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA journal_mode=DELETE")


def _tune_sqlite(dbapi_connection, _record) -> None:
    # connection settings only: nothing here may need write access (read-only readers)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
