"""What a database error means for us: retry the transaction now, retry it on a fresh
connection, report the database down, or say that a person must act.

Retryable are the errors where the server rolled our transaction back (or never began it)
because of other writers, so running it again is the fix: InnoDB deadlocks and lock waits,
Galera's certification failures and brute-force aborts (both reported as 1213), a Galera node
that is not ready yet, and SQLite's busy database. A duplicate key is retryable too: it means
another tracker of the same host inserted or revived the row between our read and our write,
and the retry reads that row; so is a write that found other rows than the read before it
(ConcurrentChange: an operator's UPDATE by hand, say). Everything else (the server is down,
access denied) ends the reconcile as DatabaseUnavailable; the next period tries again.

A fresh connection cures the errors where the connection itself went bad while the database
may be fine again: a MySQL connection lost, reset or killed, a server that was shutting down
or is read-only (a failover moves the address to the new primary; the old connections stay
on the old one); a SQLite connection that opened the file while its file system was
read-only (it stays read-only for good), or hit an I/O error or could not open the file or
its journal. engine.py marks these as disconnects: SQLAlchemy then discards the connection
and every other one pooled before it, and retry.py runs the transaction once more at once.

Some faults only a person cures (a wrong password or missing grant, a database that does not
exist, a full disk, a corrupt file, a schema behind the program): the DatabaseUnavailable
says so (`needs_operator`), and the daemon shows it at once in STATUS= and /healthz.
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError

from resource_tracker.db import tls
from resource_tracker.exception import DatabaseUnavailable

MYSQL_RETRYABLE = {
    1020: "record changed since last read",  # MariaDB 11.8+ innodb_snapshot_isolation
    1047: "Galera node not ready",  # WSREP has not yet prepared node for application use
    1180: "error during commit",  # Galera: a conflict found at commit
    1205: "lock wait timeout",
    1213: "deadlock",  # also Galera's certification failure and brute-force abort
    1614: "XA deadlock",
}
MYSQL_DUPLICATE_KEY = 1062
SQLITE_BUSY = ("database is locked", "database table is locked", "database is busy")

MYSQL_FRESH_CONNECTION = {
    1053: "server shutdown in progress",
    1290: "server is read-only",  # --read-only: a failover's old primary
    1792: "read-only transaction",
    1836: "server is read-only (replica)",
    1927: "connection killed",
    2006: "server has gone away",
    2013: "lost connection during query",
    2014: "commands out of sync",
    2045: "connection lost",
    2055: "lost connection",
    4031: "disconnected by the server for inactivity",
}
MYSQL_NEEDS_OPERATOR = {
    1021: "disk full",
    1044: "access to the database denied",
    1045: "access denied (user or password)",
    1049: "unknown database",
    1114: "table full",
    1129: "host blocked for connection errors (FLUSH HOSTS)",
    1130: "host not allowed to connect",
    1142: "command denied (grants)",
    1143: "column denied (grants)",
    1146: "table missing",
    1698: "access denied (authentication plugin)",
    1820: "password must be reset",
    1862: "password expired",
    3159: "insecure transport refused (require_secure_transport)",
}
# SQLITE_READONLY, SQLITE_IOERR, SQLITE_CANTOPEN: the file system as the connection saw it
SQLITE_FRESH_CONNECTION = (
    "attempt to write a readonly database",
    "disk I/O error",
    "unable to open database file",
)
SQLITE_NEEDS_OPERATOR = (
    "database or disk is full",
    "database disk image is malformed",
    "file is not a database",
    "no such table",
)


def mysql_code(error: BaseException) -> int | None:
    orig = getattr(error, "orig", None)
    args = getattr(orig, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


class ConcurrentChange(DatabaseUnavailable):
    """A write matched other rows than the read before it found: another writer (or an
    operator by hand) changed them in between. Running the transaction again reads anew."""


def is_retryable(error: BaseException) -> bool:
    if isinstance(error, ConcurrentChange):
        return True
    if not isinstance(error, DBAPIError):
        return False
    code = mysql_code(error)
    if code is not None:
        return code in MYSQL_RETRYABLE or code == MYSQL_DUPLICATE_KEY
    if isinstance(error, IntegrityError):
        return "UNIQUE constraint failed" in str(error.orig)
    return any(text in str(error.orig) for text in SQLITE_BUSY)


def _matches(error: BaseException, codes: dict[int, str], texts: tuple[str, ...]) -> bool:
    if not isinstance(error, DBAPIError):
        return False
    code = mysql_code(error)
    if code is not None:
        return code in codes
    return any(text in str(error.orig) for text in texts)


def needs_fresh_connection(error: BaseException) -> bool:
    """Whether the connection `error` came from must be replaced before the next try."""
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    return _matches(error, MYSQL_FRESH_CONNECTION, SQLITE_FRESH_CONNECTION)


def needs_operator(error: BaseException) -> bool:
    """Whether only a person can cure `error` (grants, a missing database, a full disk...)."""
    return _matches(error, MYSQL_NEEDS_OPERATOR, SQLITE_NEEDS_OPERATOR)


def unavailable(error: SQLAlchemyError, masked_url: str, password: str | None):
    """The DatabaseUnavailable to raise for `error`: one line, never holding the password."""
    detail = error.orig if isinstance(error, DBAPIError) else error
    message = " ".join(f"database {masked_url}: {detail}".split())
    certificate = tls.explained(str(detail))
    if certificate:
        message = f"{certificate}; database {masked_url}"
    if password:
        message = message.replace(password, "***")
    unavailable = DatabaseUnavailable(message)
    unavailable.needs_operator = needs_operator(error)
    return unavailable
