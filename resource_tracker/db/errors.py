"""What a database error means for us: retry the transaction now, or report the database down.

Retryable are the errors where the server rolled our transaction back (or never began it)
because of other writers, so running it again is the fix: InnoDB deadlocks and lock waits,
Galera's certification failures and brute-force aborts (both reported as 1213), a Galera node
that is not ready yet, and SQLite's busy database. A duplicate key is retryable too: it means
another tracker of the same host inserted or revived the row between our read and our write,
and the retry reads that row; so is a write that found other rows than the read before it
(ConcurrentChange: an operator's UPDATE by hand, say). Everything else (the server is down,
access denied) ends the reconcile as DatabaseUnavailable; the next period tries again.
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


def unavailable(error: SQLAlchemyError, masked_url: str, password: str | None):
    """The DatabaseUnavailable to raise for `error`: one line, never holding the password."""
    detail = error.orig if isinstance(error, DBAPIError) else error
    message = " ".join(f"database {masked_url}: {detail}".split())
    certificate = tls.explained(str(detail))
    if certificate:
        message = f"{certificate}; database {masked_url}"
    if password:
        message = message.replace(password, "***")
    return DatabaseUnavailable(message)
