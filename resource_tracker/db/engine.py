"""Engines for the two databases we support, tuned for a daemon that writes every period."""

from __future__ import annotations

import os

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, ExceptionContext, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import NullPool

from resource_tracker import timeouts
from resource_tracker.db import errors

# PyMySQL waits forever for an answer by default: a server that hangs would hold the audit's
# worker thread for good. How these add up below the daemon's deadlines: timeouts.py.
MYSQL_CONNECT_ARGS = {
    "connect_timeout": timeouts.DB_CONNECT_S,
    "read_timeout": timeouts.DB_READ_S,
    "write_timeout": timeouts.DB_WRITE_S,
    # a lock another session holds ends as 1205 (retried), well before the read timeout
    "init_command": f"SET SESSION innodb_lock_wait_timeout = {timeouts.DB_LOCK_WAIT_S}",
}


SUPPORTED = {"sqlite": "pysqlite", "mysql": "pymysql", "mariadb": "pymysql"}  # backend: driver
EXAMPLE = "mysql+pymysql://USER:PASSWORD@HOST/DATABASE or sqlite:///PATH"


def url_problem(url: str) -> str | None:
    """Why `url` cannot be used, in one line that never holds its password; None if it can."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return f"not a database URL: expected {EXAMPLE}"
    backend, driver = parsed.get_backend_name(), parsed.get_driver_name()
    if SUPPORTED.get(backend) != driver:
        return f"database {backend}+{driver} is not supported: use {EXAMPLE}"
    if parsed.port is not None and not 1 <= parsed.port <= 65535:
        return f"port {parsed.port} is not between 1 and 65535"
    if driver == "pymysql" and parsed.password:
        try:
            parsed.password.encode("latin-1")
        except UnicodeEncodeError:
            return "the password has characters PyMySQL cannot send (it sends it as Latin-1)"
    return None


def make_engine(url: str | URL) -> Engine:
    url = make_url(url)
    if url.get_backend_name() == "sqlite":
        # A file database is opened anew by each transaction (~0.1 ms) and closed after it:
        # a connection kept between audits would pin its file system (no `remount,ro`), and
        # one opened while the file system was read-only would stay read-only for good.
        pool = {} if url.database in (None, "", ":memory:") else {"poolclass": NullPool}
        engine = create_engine(url, **pool)
        event.listen(engine, "connect", _tune_sqlite)
        event.listen(engine, "handle_error", _fresh_connection_cures)
        return engine
    url = url.set(query={"charset": "utf8mb4", **url.query})
    connect_args = {name: s for name, s in MYSQL_CONNECT_ARGS.items() if name not in url.query}
    engine = create_engine(
        url,
        connect_args=connect_args,
        # a database restarted between two audits costs one reconnect, not a failure
        pool_pre_ping=True,
        pool_recycle=3600,
        # READ COMMITTED takes no gap locks on searches, so two hosts registering at once do
        # not deadlock on the gap between their keys; each statement sees the latest commit.
        isolation_level="READ COMMITTED",
    )
    event.listen(engine, "handle_error", _fresh_connection_cures)
    return engine


def _fresh_connection_cures(context: ExceptionContext) -> None:
    """The one place where a connection gone bad is replaced (errors.py says which are): as a
    disconnect, SQLAlchemy discards it and every connection pooled before it, and the
    DBAPIError raised says `connection_invalidated`, so retry.py tries once more at once."""
    if context.sqlalchemy_exception is not None and errors.needs_fresh_connection(
        context.sqlalchemy_exception
    ):
        context.is_disconnect = True


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
    cursor.execute(f"PRAGMA busy_timeout={timeouts.SQLITE_BUSY_S * 1000:.0f}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
