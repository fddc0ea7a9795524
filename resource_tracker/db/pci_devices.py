"""A compute node's pci_devices rows, reconciled inside the caller's transaction.

Write-on-change as for compute_nodes: one SELECT of the node's live rows, then an INSERT
for a device first seen, an UPDATE of the columns that differ, and a soft delete (deleted
= id, status 'deleted', as Nova marks a device that went away) for a device no longer
reported. Nothing changed, nothing written. The caller holds the host's services row lock,
so two trackers of one host never insert the same device. As for compute_nodes (writes.py),
integers are clamped to their column and every UPDATE must match the rows the SELECT found,
else the transaction runs again.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping, Sequence

from sqlalchemy import Connection, select

from resource_tracker.db.dialect import utc_now
from resource_tracker.db.models import pci_devices as devices
from resource_tracker.db.writes import expect, fit, int_ranges, update_if_changed
from resource_tracker.resources import PciDeviceValues

DELETED = "deleted"

INT_RANGES = int_ranges(devices)


def reconcile_devices(
    connection: Connection, compute_node_id: int, reported: Sequence[PciDeviceValues]
) -> bool:
    """Make the node's live rows hold `reported`; True if any row was written."""
    stored = {
        row["address"]: row
        for row in connection.execute(
            select(devices).where(
                devices.c.compute_node_id == compute_node_id, devices.c.deleted == 0
            )
        ).mappings()
    }
    wanted = {values.address: fit(INT_RANGES, dataclasses.asdict(values)) for values in reported}
    changed = False
    for address, columns in wanted.items():
        row = stored.get(address)
        if row is None:
            _insert(connection, compute_node_id, columns)
            changed = True
        else:
            changed |= update_if_changed(connection, devices, row, columns)
    gone = [row["id"] for address, row in stored.items() if address not in wanted]
    if gone:
        result = connection.execute(
            devices.update()
            .where(devices.c.id.in_(gone), devices.c.deleted == 0)
            .values(deleted=devices.c.id, deleted_at=utc_now(), status=DELETED)
        )
        expect(result, len(gone), f"soft delete of {len(gone)} row(s)", devices)
        changed = True
    return changed


def _insert(connection: Connection, compute_node_id: int, columns: Mapping) -> None:
    connection.execute(
        devices.insert().values(
            **columns,
            uuid=str(uuid.uuid4()),
            compute_node_id=compute_node_id,
            deleted=0,
            created_at=utc_now(),
        )
    )
