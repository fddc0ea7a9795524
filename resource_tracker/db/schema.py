"""The schema's version: alembic migrations, configured here so no alembic.ini is needed.

A database made before migrations existed (main's create_all) has both tables and no
alembic_version: it holds revision 0001 exactly, so db sync stamps it 0001 and upgrades.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Iterator

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, column, exists, inspect, table, text
from sqlalchemy.sql.expression import ColumnElement

from resource_tracker.exception import ResourceTrackerError, SchemaNotCurrent

SCRIPT_LOCATION = "resource_tracker.db:migrations"
FIRST_REVISION = "0001"
FIRST_TABLES = {"services", "compute_nodes"}
VERSION_TABLE = "alembic_version"
VERSIONS = table(VERSION_TABLE, column("version_num"))


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.attributes["connection"] = connection
    return config


@functools.cache
def head() -> str:
    """The newest revision this program knows (read once: its own migration files)."""
    revision = _scripts().get_current_head()
    assert revision is not None, "the package's migrations are missing"
    return revision


def known_revisions() -> set[str]:
    return {script.revision for script in _scripts().walk_revisions()}


def current(connection: Connection) -> str | None:
    # read directly: alembic's MigrationContext logs at INFO, into the daemon's log
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    return connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


def sync(engine: Engine, masked_url: str) -> tuple[str | None, str]:
    """Create or upgrade the schema to head; return the revisions before and after."""
    with engine.connect() as connection, tables_kept_linked(connection):
        before = current(connection)
        config = alembic_config(connection)
        if before is None and _unversioned_first_schema(connection, masked_url):
            command.stamp(config, FIRST_REVISION)
            before = FIRST_REVISION
        if before is not None and before not in known_revisions():
            raise SchemaNotCurrent(f"database {masked_url} {_unknown(before)}")
        command.upgrade(config, "head")
        after = current(connection)
        assert after is not None, "upgraded to head, yet no revision recorded"
        return before, after


def check(connection: Connection, masked_url: str) -> None:
    """Raise SchemaNotCurrent unless the database is at this program's head revision."""
    revision = current(connection)
    wanted = head()
    if revision == wanted:
        return
    if revision is None:
        state = "has no resource-tracker schema (or one from before migrations)"
    elif revision in known_revisions():
        state = f"is at schema revision {revision}, this program needs {wanted}"
    else:
        raise SchemaNotCurrent(f"database {masked_url} {_unknown(revision)}")
    raise SchemaNotCurrent(f"database {masked_url} {state}; run: resource-tracker-manage db sync")


def at_head() -> ColumnElement[bool]:
    """True while the database is at this program's head revision: one read of
    alembic_version by primary key, for the WHERE of a statement a transaction sends anyway
    (the reconcile's heartbeat), so a daemon never writes into a schema that moved on (the
    db sync of a newer release) while it ran, at the cost of no extra round trip."""
    return exists().where(VERSIONS.c.version_num == head())


def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def _unknown(revision: str) -> str:
    return (
        f"is at schema revision {revision}, which this program does not know "
        f"(it knows up to {head()}): a newer resource-tracker wrote it; upgrade this one"
    )


def _unversioned_first_schema(connection: Connection, masked_url: str) -> bool:
    tables = set(inspect(connection).get_table_names()) & FIRST_TABLES
    if not tables:
        return False
    if tables != FIRST_TABLES:
        raise SchemaNotCurrent(
            f"database {masked_url} has {', '.join(sorted(tables))} but not "
            f"{', '.join(sorted(FIRST_TABLES - tables))} and no alembic_version: "
            "not a schema db sync can adopt"
        )
    return True


@contextlib.contextmanager
def migrations_quiet() -> Iterator[None]:
    """Alembic's INFO lines (one per migration) held back."""
    logger = logging.getLogger("alembic")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


@contextlib.contextmanager
def tables_kept_linked(connection: Connection) -> Iterator[None]:
    """A transaction for schema changes. On SQLite, the procedure SQLite gives for changing a
    table other tables point at (a batch migration copies compute_nodes, then drops the old
    one, which pci_devices rows reference): foreign keys off around the transaction, checked
    before it commits, on again after (the pragma does nothing inside a transaction)."""
    if connection.dialect.name != "sqlite":
        with connection.begin():
            yield
        return
    connection.exec_driver_sql("PRAGMA foreign_keys = OFF")
    connection.commit()
    try:
        with connection.begin():
            yield
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
            if broken:
                raise ResourceTrackerError(
                    f"the schema change left {len(broken)} row(s) pointing at rows that are "
                    f"gone (table, rowid, parent): {', '.join(map(str, broken[:5]))}"
                )
    finally:
        connection.exec_driver_sql("PRAGMA foreign_keys = ON")
        connection.commit()


@contextlib.contextmanager
def views_kept_working(connection: Connection) -> Iterator[None]:
    """Migrations run inside this (env.py). SQLite >= 3.26 refuses to rename a table while a
    view names a table that is missing, which is what batch_alter_table does at the end of
    copying compute_nodes (storage_pools names it): the legacy rule renames without checking,
    and the view then reads the new table."""
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        connection.exec_driver_sql("PRAGMA legacy_alter_table = ON")
    try:
        yield
    finally:
        if sqlite:
            connection.exec_driver_sql("PRAGMA legacy_alter_table = OFF")
