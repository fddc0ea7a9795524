"""The few statements that MySQL/MariaDB and SQLite spell differently.

Every timestamp we write comes from the database's clock, in UTC: a fleet's hosts disagree
about the time, the database is one clock, so "updated in the last two minutes" compares
like with like (`UTC_TIMESTAMP() - INTERVAL 2 MINUTE` on MySQL).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, DateTime, Table, literal_column
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement, FunctionElement

MYSQL_NAMES = ("mysql", "mariadb")


class utc_now(FunctionElement):
    """The database server's current UTC time."""

    type = DateTime()
    inherit_cache = True


@compiles(utc_now)
def _utc_now(_element, _compiler, **_kw) -> str:
    return "CURRENT_TIMESTAMP"  # UTC in SQLite


@compiles(utc_now, *MYSQL_NAMES)
def _utc_now_mysql(_element, _compiler, **_kw) -> str:
    return "UTC_TIMESTAMP()"  # NOW() would be in the session's time zone


def is_mysql(connection: Connection) -> bool:
    return connection.dialect.name in MYSQL_NAMES


def upsert(
    connection: Connection,
    table: Table,
    values: Mapping[str, Any],
    key: Sequence[str],
    update: Mapping[str, Any],
) -> int:
    """INSERT `values`; where a row with the same unique `key` exists, apply `update` to it.

    Returns the id of the row inserted or updated. One statement, so two writers of the same
    key never both insert: the database's unique index decides.
    """
    if is_mysql(connection):
        # LAST_INSERT_ID(id) makes the server report the id of the updated row too.
        update = {"id": literal_column("LAST_INSERT_ID(id)"), **update}
        on_duplicate = mysql.insert(table).values(values).on_duplicate_key_update(update)
        return connection.execute(on_duplicate).lastrowid
    statement = (
        sqlite.insert(table)
        .values(values)
        .on_conflict_do_update(index_elements=list(key), set_=update)
        .returning(table.c.id)
    )
    return connection.execute(statement).scalar_one()


def update_returning_id(connection: Connection, table: Table, where: ColumnElement, values):
    """UPDATE the one row matching `where`; its id, or None if no row matched."""
    statement = table.update().where(where).values(values)
    if is_mysql(connection):
        statement = statement.values(id=literal_column("LAST_INSERT_ID(id)"))
        result = connection.execute(statement)
        return result.lastrowid if result.rowcount else None
    return connection.execute(statement.returning(table.c.id)).scalar_one_or_none()
