"""The upgrade rule: a migration that names an older `oldest_writer` only expands the schema
that writer knew (no table or column dropped, none made NOT NULL, no new column an INSERT
that leaves it out would fail on), and db sync lists those writers in alembic_version, so a
daemon of that release keeps writing (tests/functional/test_upgrade.py runs one)."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import inspect, text

from resource_tracker.db import schema
from resource_tracker.db.api import Database

# the first revision made under the rule; every one after it must say its oldest writer
RULE_FROM = "0007"

Shape = dict[str, dict[str, tuple[bool, bool]]]  # table: column: (nullable, has a default)


@pytest.fixture
def empty(db_url):
    database = Database(db_url)
    yield database
    database.dispose()


def shape_at(database: Database, revision: str) -> Shape:
    with database.engine.begin() as connection:
        command.upgrade(schema.alembic_config(connection), revision)
    tables = inspect(database.engine)
    return {
        name: {
            c["name"]: (bool(c["nullable"]), c.get("default") is not None)
            for c in tables.get_columns(name)
        }
        for name in tables.get_table_names()
        if name not in (schema.REVISION_TABLE, schema.VERSION_TABLE)
    }


def contractions(before: Shape, after: Shape) -> list[str]:
    """What an INSERT or UPDATE written for `before` would fail on in `after`."""
    found = []
    for table, columns in before.items():
        if table not in after:
            found.append(f"table {table} dropped")
            continue
        for name, (nullable, default) in columns.items():
            if name not in after[table]:
                found.append(f"{table}.{name} dropped")
            elif nullable and not after[table][name][0]:
                found.append(f"{table}.{name} made NOT NULL")
            elif default and not after[table][name][1]:
                found.append(f"{table}.{name} lost its default")
        for name, (nullable, default) in after[table].items():
            if name not in columns and not (nullable or default):
                found.append(f"{table}.{name} added NOT NULL without a server default")
    return found


def revisions() -> list[str]:
    return sorted(schema.known_revisions())


def test_every_migration_under_the_rule_names_its_oldest_writer():
    for revision in revisions():
        module = schema._scripts().get_revision(revision).module
        if revision >= RULE_FROM:
            assert hasattr(module, "oldest_writer"), f"{revision} must set oldest_writer"
        assert schema.oldest_writer(revision) <= revision


def test_a_migration_only_expands_what_its_oldest_writer_knew(empty):
    shapes = {}
    for revision in revisions():
        shapes[revision] = shape_at(empty, revision)
        writer = schema.oldest_writer(revision)
        assert contractions(shapes[writer], shapes[revision]) == [], (
            f"{revision} declares that daemons of {writer} still write into it"
        )


def test_the_rule_sees_a_contraction():
    before = {"t": {"a": (True, False), "b": (False, False), "c": (False, True)}}
    assert contractions(before, {"t": {"a": (False, False), "c": (False, False)}}) == [
        "t.a made NOT NULL",
        "t.b dropped",
        "t.c lost its default",
    ]
    assert contractions(before, {**before, "t": {**before["t"], "d": (False, False)}}) == [
        "t.d added NOT NULL without a server default"
    ]
    assert contractions(before, {}) == ["table t dropped"]


def test_db_sync_lists_the_writers_oldest_first(empty):
    empty.sync_schema()

    with empty.engine.connect() as connection:
        # as a release before 0008 reads it: the first row is the revision it must find
        first = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        listed = schema.writers(connection)
    assert first == "0006"
    assert listed == {"0006", "0007", schema.head()}
    assert empty.schema_revision() == schema.head()


def test_a_writer_of_the_previous_release_may_insert_without_storage_id(empty):
    empty.sync_schema()
    with empty.engine.begin() as connection:  # a writer that does not know storage_id
        connection.execute(
            text(
                "INSERT INTO services (host, `binary`, report_count, disabled, deleted)"
                " VALUES ('old', 'resource-tracker', 1, 0, 0)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO compute_nodes (service_id, host, hypervisor_hostname, uuid, vcpus,"
                " memory_mb, local_gb, vcpus_used, memory_mb_used, local_gb_used, hypervisor_type,"
                " hypervisor_version, cpu_info, deleted, created_at) VALUES"
                " ((SELECT id FROM services WHERE host = 'old'), 'old', 'old',"
                " 'u-1', 1, 1, 1, 0, 0, 0, 'QEMU', 1, '{}', 0, CURRENT_TIMESTAMP)"
            )
        )

    (pool,) = empty.storage_pools()
    assert pool["storage_id"] == "local:old"  # its host's own storage, as its tracker writes
