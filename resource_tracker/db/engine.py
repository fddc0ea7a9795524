"""Engines for the two databases we support, tuned for a daemon that writes every period."""

from __future__ import annotations

import contextlib
import os
import re
import warnings

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, ExceptionContext, make_url
from sqlalchemy.exc import ArgumentError, SAWarning
from sqlalchemy.pool import NullPool

from resource_tracker import modes, timeouts
from resource_tracker.db import errors, tls

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
    return _refused_parameters(parsed)


def _refused_parameters(url: URL) -> str | None:
    """Why the driver would refuse the URL's query parameters at its first connection, found
    now by building its arguments as make_engine does and handing them to the driver without
    connecting; the parameters are named, their values (which may be secret) are not. The
    TLS parameters are tls.py's to check (they never reach the driver)."""
    url = url.difference_update_query([name for name in tls.PARAMETERS if name in url.query])
    names = ", ".join(url.query) or "none"
    with warnings.catch_warnings():
        # SQLAlchemy ignores, with a warning, parameters pysqlite does not take: a typo
        warnings.simplefilter("error", SAWarning)
        try:
            engine = make_engine(url)
            cargs, cparams = engine.dialect.create_connect_args(engine.url)
            if url.get_driver_name() == "pymysql":
                pymysql = engine.dialect.loaded_dbapi
                charset = cparams.get("charset")
                if charset and pymysql.charset.charset_by_name(charset) is None:
                    raise LookupError(f"unknown charset {charset!r}")
                cparams = {**_mysql_connect_args(url), **cparams}
                pymysql.connections.Connection(*cargs, **cparams, defer_connect=True)
        except SAWarning as warning:
            ignored = re.search(r"argument\(s\) (.*) are not accepted", str(warning))
            return f"unknown parameter {ignored[1] if ignored else names} (parameters: {names})"
        except TypeError as error:  # an argument the driver does not have
            # "... unexpected keyword argument 'x'", with ". Did you mean 'y'?" on Python 3.13
            found = re.search(r"argument ('[^']*')", str(error))
            unknown = found[1] if found else names
            return f"unknown parameter {unknown} (parameters: {names})"
        except LookupError as error:  # PyMySQL: an unknown charset (AttributeError here)
            return f"the driver refuses the URL's parameters ({names}): {error}"
        except Exception as error:  # whatever the driver's own checks raise: its reason
            reason = str(error) or type(error).__name__
            if url.password:
                reason = reason.replace(url.password, "***")
            return f"the driver refuses the URL's parameters ({names}): {reason}"
    engine.dispose()
    return None


def make_engine(url: str | URL) -> Engine:
    url = make_url(url)
    if url.get_backend_name() == "sqlite":
        # A file database is opened anew by each transaction (~0.1 ms) and closed after it:
        # a connection kept between audits would pin its file system (no `remount,ro`), and
        # one opened while the file system was read-only would stay read-only for good.
        pool = {} if url.database in (None, "", ":memory:") else {"poolclass": NullPool}
        engine = create_engine(url, **pool)
        if (path := sqlite_file(url)) is not None:
            event.listen(engine, "do_connect", lambda *_: _create_sqlite_file(path))
        event.listen(engine, "connect", _tune_sqlite)
        event.listen(engine, "handle_error", _fresh_connection_cures)
        return engine
    url, tls_context = tls.take(url)
    url = url.set(query={"charset": "utf8mb4", **url.query})
    connect_args = _mysql_connect_args(url)
    if tls_context is not None:
        connect_args["ssl"] = tls_context
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


def _mysql_connect_args(url: URL) -> dict[str, object]:
    """Our time limits, each unless the URL sets it."""
    return {name: value for name, value in MYSQL_CONNECT_ARGS.items() if name not in url.query}


def masked(url: str | URL) -> str:
    """The URL as it may appear in logs and messages: never with its password."""
    return make_url(url).render_as_string(hide_password=True)


def password(url: str | URL) -> str | None:
    return make_url(url).password


def sqlite_file(url: str | URL) -> str | None:
    """The file a SQLite database lives in, or None for other databases (and SQLite URIs,
    `file:...?uri=true`, whose path is SQLite's to read)."""
    url = make_url(url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    if "uri" in url.query:
        return None
    return os.path.abspath(url.database)


def sqlite_directory(url: str | URL) -> str | None:
    """The directory a SQLite file database lives in, or None for other databases."""
    path = sqlite_file(url)
    return None if path is None else os.path.dirname(path)


def _create_sqlite_file(path: str) -> None:
    """Before SQLite opens `path`: create it, empty (which SQLite reads as a database without
    tables), mode 0640 whatever the umask, if it is missing. SQLite would create it 0644 less
    the umask; its journal takes the file's mode. Where it cannot be created (no directory, no
    write access), SQLite's own open fails and says so, as before."""
    with contextlib.suppress(OSError):
        modes.create_file_if_missing(path)


def use_rollback_journal(engine: Engine) -> None:
    """Put a SQLite database in rollback-journal mode, once, where it is created or synced.

    Not WAL: a WAL database can be read only by whoever may create its -shm file, or while a
    writer has it open, so an operator with read access to the 0640 file (in the daemon's
    group) could not read it with the daemon stopped. The daemon's one write a minute has no
    use for WAL's readers that never wait; a reader waits a few milliseconds for a commit
    (busy_timeout).
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
