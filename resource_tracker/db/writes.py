"""What every reconcile write obeys, whichever table it writes (compute_nodes, pci_devices).

Values are clamped to their column's range, so a host reporting the absurd is stored, not
refused; and every write checks how many rows it touched against what the SELECT found, so
a row another writer changed in between makes the transaction run again (ConcurrentChange)
rather than report a change that did not happen.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import BigInteger, Connection, CursorResult, Integer, RowMapping, Table

from resource_tracker.db.dialect import utc_now
from resource_tracker.db.errors import ConcurrentChange


def int_ranges(table: Table) -> dict[str, tuple[int, int]]:
    """What each integer column of `table` holds: BIGINT 64 bits, INT 32, both signed."""
    return {
        column.name: (-(2**bits), 2**bits - 1)
        for column in table.c
        if isinstance(column.type, Integer)
        for bits in [63 if isinstance(column.type, BigInteger) else 31]
    }


def fit(ranges: Mapping[str, tuple[int, int]], columns: Mapping[str, Any]) -> dict[str, Any]:
    """`columns` with each integer clamped to its column's range (`ranges`, of int_ranges)."""
    fitted = dict(columns)
    for name, value in columns.items():
        if type(value) is int:
            low, high = ranges[name]
            fitted[name] = min(max(value, low), high)
    return fitted


def differences(stored: RowMapping, columns: Mapping[str, Any]) -> dict[str, Any]:
    """The columns whose value differs from the stored row's."""
    return {name: value for name, value in columns.items() if stored[name] != value}


def expect(result: CursorResult, rows: int, what: str, table: Table) -> None:
    """ConcurrentChange unless the statement matched `rows` rows."""
    if result.rowcount != rows:
        raise ConcurrentChange(
            f"{table.name} changed during the reconcile: the {what} matched "
            f"{result.rowcount} row(s), not {rows}; run again"
        )


def update_if_changed(
    connection: Connection, table: Table, row: RowMapping, columns: Mapping[str, Any]
) -> bool:
    """Write the columns of the live `row` that differ from `columns`; False if none do."""
    changed = differences(row, columns)
    if not changed:
        return False
    result = connection.execute(
        table.update()
        .where(table.c.id == row["id"], table.c.deleted == 0)
        .values({**changed, "updated_at": utc_now()})
    )
    expect(result, 1, f"update of row {row['id']}", table)
    return True
