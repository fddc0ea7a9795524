"""A newer release's db sync, as the tests fake it: its revision and its writers only."""

from __future__ import annotations

from sqlalchemy import Connection, text

from resource_tracker.db import schema


def newer_release_synced(connection: Connection, revision: str = "9999") -> None:
    """The schema at `revision`, whose migrations take no writes of this release's."""
    connection.execute(
        text(f"UPDATE {schema.REVISION_TABLE} SET version_num = :r"), {"r": revision}
    )
    connection.execute(text(f"DELETE FROM {schema.VERSION_TABLE}"))
    connection.execute(text(f"INSERT INTO {schema.VERSION_TABLE} VALUES (:r)"), {"r": revision})
