"""Engines for the two databases we support, tuned for a daemon that writes every period."""

from __future__ import annotations

import os

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url


def make_engine(url: str | URL) -> Engine:
    url = make_url(url)
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url)
        event.listen(engine, "connect", _tune_sqlite)
        return engine
    # pre-ping: a database restarted between two audits costs one reconnect, not a failure
    return create_engine(url, pool_pre_ping=True, pool_recycle=3600)


def masked(url: str | URL) -> str:
    """The URL as it may appear in logs and messages: never with its password."""
    return make_url(url).render_as_string(hide_password=True)


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
