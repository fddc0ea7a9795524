"""Which database errors a reconcile retries, and what the caller is told."""

from __future__ import annotations

import sqlite3

import pymysql
import pytest
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from resource_tracker.db.errors import (
    is_retryable,
    needs_fresh_connection,
    needs_operator,
    unavailable,
)
from resource_tracker.db.retry import RetryPolicy


def mysql_error(kind, code: int, message: str):
    return kind("UPDATE services ...", {}, pymysql.err.OperationalError(code, message))


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        (mysql_error(OperationalError, 1213, "Deadlock found when trying to get lock"), True),
        (mysql_error(OperationalError, 1213, "Deadlock: wsrep aborted transaction"), True),
        (mysql_error(OperationalError, 1205, "Lock wait timeout exceeded"), True),
        (mysql_error(OperationalError, 1047, "WSREP has not yet prepared node"), True),
        (mysql_error(IntegrityError, 1062, "Duplicate entry 'h-n-0'"), True),
        (mysql_error(OperationalError, 2003, "Can't connect to MySQL server"), False),
        (mysql_error(OperationalError, 1045, "Access denied for user 'tracker'"), False),
        (mysql_error(ProgrammingError, 1146, "Table 'rt.services' doesn't exist"), False),
        (OperationalError("BEGIN", {}, sqlite3.OperationalError("database is locked")), True),
        (IntegrityError("INSERT", {}, sqlite3.IntegrityError("UNIQUE constraint failed")), True),
        (OperationalError("SELECT", {}, sqlite3.OperationalError("no such table: x")), False),
        (RuntimeError("not a database error"), False),
    ],
)
def test_retryable_errors(error, retryable):
    assert is_retryable(error) is retryable


def sqlite_error(message: str):
    return OperationalError("UPDATE services ...", {}, sqlite3.OperationalError(message))


@pytest.mark.parametrize(
    ("error", "fresh", "operator"),
    [
        (mysql_error(OperationalError, 2006, "MySQL server has gone away"), True, False),
        (mysql_error(OperationalError, 2013, "Lost connection to MySQL server"), True, False),
        (mysql_error(OperationalError, 4031, "The client was disconnected"), True, False),
        (mysql_error(OperationalError, 1927, "Connection was killed"), True, False),
        (mysql_error(OperationalError, 1290, "running with the --read-only option"), True, False),
        (mysql_error(OperationalError, 1213, "Deadlock found"), False, False),
        (mysql_error(OperationalError, 2003, "Can't connect to MySQL server"), False, False),
        (mysql_error(OperationalError, 1045, "Access denied for user 'tracker'"), False, True),
        (mysql_error(OperationalError, 1049, "Unknown database 'rt'"), False, True),
        (mysql_error(OperationalError, 1142, "UPDATE command denied"), False, True),
        (sqlite_error("attempt to write a readonly database"), True, False),
        (sqlite_error("disk I/O error"), True, False),
        (sqlite_error("unable to open database file"), True, False),
        (sqlite_error("database is locked"), False, False),
        (sqlite_error("database or disk is full"), False, True),
        (sqlite_error("database disk image is malformed"), False, True),
        (RuntimeError("not a database error"), False, False),
    ],
)
def test_which_errors_a_fresh_connection_or_a_person_cures(error, fresh, operator):
    assert needs_fresh_connection(error) is fresh
    assert needs_operator(error) is operator
    assert not (fresh and is_retryable(error))  # one cure each


def test_unavailable_says_when_a_person_must_act():
    denied = mysql_error(OperationalError, 1045, "Access denied for user 'tracker'")
    lost = mysql_error(OperationalError, 2013, "Lost connection to MySQL server")

    assert unavailable(denied, "mysql+pymysql://tracker:***@db/rt", None).needs_operator
    assert not unavailable(lost, "mysql+pymysql://tracker:***@db/rt", None).needs_operator


def test_unavailable_is_one_line_without_the_password():
    error = OperationalError("SELECT", {}, sqlite3.OperationalError("bad\nthing s3cret"))

    message = str(unavailable(error, "mysql+pymysql://tracker:***@db/rt", "s3cret"))

    assert message == "database mysql+pymysql://tracker:***@db/rt: bad thing ***"


def test_retry_pauses_are_random_doubling_and_capped():
    policy = RetryPolicy(attempts=10, base_delay_s=0.01, max_delay_s=0.05)

    for failed_runs, ceiling in [(1, 0.01), (2, 0.02), (3, 0.04), (4, 0.05), (9, 0.05)]:
        delays = {policy.delay_s(failed_runs) for _ in range(50)}
        assert all(0 <= delay <= ceiling for delay in delays)
        assert len(delays) > 1
