"""What operators do to the fleet's rows by hand: retire a host, purge what was retired.

A retired row is soft-deleted (deleted = id, deleted_at = now), as a tracker does to a node it
no longer reports, so history stays readable and a host that comes back is revived under its
old ids. Purging removes soft-deleted rows for good: pci_devices rows first (those of the
nodes purged, whatever their state, and those soft-deleted before the date), then compute
nodes, then services rows no row points at any more (pci_devices.compute_node_id and
compute_nodes.service_id are foreign keys).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, and_, delete, exists, func, not_, or_, select

from resource_tracker.db.dialect import utc_now
from resource_tracker.db.models import compute_nodes as nodes
from resource_tracker.db.models import pci_devices as devices
from resource_tracker.db.models import services
from resource_tracker.db.reconcile import BINARY


def soft_delete_nodes(connection: Connection, host: str) -> int:
    """Retire the host's live compute nodes; how many there were."""
    result = connection.execute(
        nodes.update()
        .where(nodes.c.host == host, nodes.c.deleted == 0)
        .values(deleted=nodes.c.id, deleted_at=utc_now())
    )
    return result.rowcount


def soft_delete_service(connection: Connection, host: str) -> tuple[int, int]:
    """Retire the host's tracker (its heartbeat row) and its compute nodes; how many of each."""
    result = connection.execute(
        services.update()
        .where(services.c.host == host, services.c.binary == BINARY, services.c.deleted == 0)
        .values(deleted=services.c.id, deleted_at=utc_now())
    )
    return result.rowcount, soft_delete_nodes(connection, host)


def purge(connection: Connection, before: datetime, really: bool) -> dict[str, int]:
    """Count, and if `really` delete, the rows soft-deleted before `before` (UTC)."""
    old_nodes = and_(nodes.c.deleted != 0, nodes.c.deleted_at < before)
    # a services row goes once no compute node that stays points at it
    kept_node = select(nodes.c.id).where(nodes.c.service_id == services.c.id, not_(old_nodes))
    old_services = and_(
        services.c.deleted != 0, services.c.deleted_at < before, not_(exists(kept_node))
    )
    old_devices = or_(
        devices.c.compute_node_id.in_(select(nodes.c.id).where(old_nodes)),
        and_(devices.c.deleted != 0, devices.c.deleted_at < before),
    )
    counts = {
        "compute_nodes": _count(connection, nodes, old_nodes),
        "services": _count(connection, services, old_services),
        "pci_devices": _count(connection, devices, old_devices),
    }
    if really:
        connection.execute(delete(devices).where(old_devices))
        connection.execute(delete(nodes).where(old_nodes))
        remaining = select(nodes.c.id).where(nodes.c.service_id == services.c.id)
        connection.execute(
            delete(services).where(
                services.c.deleted != 0,
                services.c.deleted_at < before,
                not_(exists(remaining)),
            )
        )
    return counts


def _count(connection: Connection, table, condition) -> int:
    return connection.execute(
        select(func.count()).select_from(table).where(condition)
    ).scalar_one()
