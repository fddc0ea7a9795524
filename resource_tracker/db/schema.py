"""The schema's version: alembic migrations, configured here so no alembic.ini is needed.

Two tables say where the schema is. Alembic keeps its revision in schema_revision (one row).
alembic_version lists the revisions whose daemons may write into the schema (the writers):
the revision itself and, back to its migration's `oldest_writer`, the older ones whose
daemons still write correctly into it, because every migration since then only expanded
(nullable or defaulted columns, tables, views). A daemon writes only while its own head is
listed, so the previous release's daemons keep writing after db sync and never write into a
schema no migration vouched for. The table keeps alembic's old name because every release
reads it: until revision 0008 alembic kept its revision there, and daemons of those releases
read its first row only (hence the rows in ascending order, the oldest writer first).

A database made before migrations existed (main's create_all) has both tables and no
alembic_version: it holds revision 0001 exactly, so db sync stamps it 0001 and upgrades.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    column,
    exists,
    inspect,
    select,
    table,
    text,
)
from sqlalchemy.sql.expression import ColumnElement

from resource_tracker.exception import ResourceTrackerError, SchemaBehind, SchemaNotCurrent

if TYPE_CHECKING:  # alembic (10 MiB) is imported only where migrations are read or run
    from alembic.config import Config
    from alembic.script import ScriptDirectory

# The newest migration's revision, so a daemon checks the schema without loading alembic;
# tests/unit/db/test_schema_head.py holds it to the migrations.
HEAD = "0008"

SCRIPT_LOCATION = "resource_tracker.db:migrations"
FIRST_REVISION = "0001"
FIRST_TABLES = {"services", "compute_nodes"}
REVISION_TABLE = "schema_revision"  # alembic's, since 0008
VERSION_TABLE = "alembic_version"  # the writers; alembic's until 0008
VERSIONS = table(VERSION_TABLE, column("version_num"))
WRITERS = Table(
    VERSION_TABLE,
    MetaData(),
    Column("version_num", String(32), nullable=False),
    PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),  # as alembic made it
)


def not_the_writers(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic's include_name: the writers' table is no model's, nor alembic's own."""
    return not (type_ == "table" and name == VERSION_TABLE)


def alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.attributes["connection"] = connection
    return config


def head() -> str:
    """The newest revision this program knows."""
    return HEAD


@functools.cache
def scripts_head() -> str:
    """The newest revision of the package's migration files, as alembic reads them."""
    revision = _scripts().get_current_head()
    assert revision is not None, "the package's migrations are missing"
    return revision


def known_revisions() -> set[str]:
    return {script.revision for script in _scripts().walk_revisions()}


def current(connection: Connection) -> str | None:
    """The revision db sync left; read directly: alembic's MigrationContext logs at INFO,
    into the daemon's log."""
    tables = inspect(connection)
    for name in (REVISION_TABLE, VERSION_TABLE):  # before 0008, alembic's was alembic_version
        if tables.has_table(name):
            return connection.execute(text(f"SELECT version_num FROM {name}")).scalar()
    return None


def writers(connection: Connection) -> set[str]:
    """The revisions whose daemons may write into this schema."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return set()
    return set(connection.execute(select(WRITERS.c.version_num)).scalars())


def oldest_writer(revision: str) -> str:
    """The oldest revision whose daemons write correctly into the schema `revision` leaves:
    its migration's `oldest_writer`; the revision itself where it says none (before 0007)."""
    return getattr(_scripts().get_revision(revision).module, "oldest_writer", revision)


def writers_of(revision: str) -> list[str]:
    """The writers of the schema at `revision`, oldest first: back to its oldest writer."""
    scripts, oldest = _scripts(), oldest_writer(revision)
    chain = [revision]
    while chain[-1] != oldest:
        down = scripts.get_revision(chain[-1]).down_revision
        assert isinstance(down, str), f"{oldest} is not an ancestor of {revision}"
        chain.append(down)
    return chain[::-1]


def record_writers(connection: Connection, revision: str | None) -> None:
    """alembic_version rewritten for the schema at `revision` (env.py, after every upgrade
    or stamp). Rows in ascending order: a daemon of a release before 0008 reads the first
    one (by primary key on MySQL, by rowid or the key on SQLite), which must be its head."""
    WRITERS.create(connection, checkfirst=True)
    connection.execute(WRITERS.delete())
    if revision is not None:
        connection.execute(WRITERS.insert(), [{"version_num": r} for r in writers_of(revision)])


def sync(engine: Engine, masked_url: str) -> tuple[str | None, str]:
    """Create or upgrade the schema to head; return the revisions before and after."""
    from alembic import command

    with engine.connect() as connection, tables_kept_linked(connection):
        before = current(connection)
        config = alembic_config(connection)
        if before is None and _unversioned_first_schema(connection, masked_url):
            command.stamp(config, FIRST_REVISION)
            before = FIRST_REVISION
        if before is not None and before not in known_revisions():
            raise SchemaNotCurrent(f"database {masked_url} {_unknown(before)}")
        if before is not None and not inspect(connection).has_table(REVISION_TABLE):
            command.stamp(config, before)  # alembic_version held alembic's revision
        command.upgrade(config, "head")
        after = current(connection)
        assert after is not None, "upgraded to head, yet no revision recorded"
        return before, after


def check(connection: Connection, masked_url: str) -> None:
    """Raise SchemaNotCurrent unless this program may write into the schema: it is at this
    program's head, or ahead by migrations that vouch for this program's writes (its head
    is among the writers). Raise SchemaBehind when db sync would make it so."""
    wanted = head()
    listed = writers(connection)
    if wanted in listed:
        return
    revision = current(connection)
    known = known_revisions()
    newer = sorted(r for r in listed | {revision} if r is not None and r not in known)
    if newer:
        raise SchemaNotCurrent(f"database {masked_url} {_unknown(newer[-1])}")
    if revision is None:
        state = "has no resource-tracker schema (or one from before migrations)"
    else:
        state = f"is at schema revision {revision}, this program needs {wanted}"
    raise SchemaBehind(f"database {masked_url} {state}; run: resource-tracker-manage db sync")


def at_head() -> ColumnElement[bool]:
    """True while this program may write into the schema (its head among the writers): one
    read of alembic_version by primary key, for the WHERE of a statement a transaction
    sends anyway (the reconcile's heartbeat), so a daemon never writes into a schema that
    moved on (the db sync of a newer release that no longer takes its writes) while it ran,
    at the cost of no extra round trip."""
    return exists().where(VERSIONS.c.version_num == head())


def _scripts() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config())


def _unknown(revision: str) -> str:
    return (
        f"is at schema revision {revision}, which this program does not know "
        f"(it knows up to {head()}): a newer resource-tracker wrote it and does not take "
        "this release's writes; upgrade this one"
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
