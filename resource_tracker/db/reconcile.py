"""One host's reconcile, as statements inside one transaction.

The services row is written first, every audit: it is the heartbeat, written only under a
Guard (the schema at this program's revision, read in the same statement), and its row lock
serializes two trackers of the same host (the second waits for the first to commit, then
reads what the first wrote), so they cannot both insert or revive a compute node. The unique
key (host, hypervisor_hostname, deleted) backs that up: a compute node is inserted by an
upsert on it.

compute_nodes is written only where a value differs from the stored row. In steady state a
reconcile is two statements: the heartbeat UPDATE and one SELECT of the host's rows; a host on
shared storage adds one: the sum of the other live hosts' over-commit on it.

Every write checks how many rows it touched against what the SELECT found: a row another
writer changed in between (an operator setting `deleted` by hand, say) makes the transaction
run again (ConcurrentChange), rather than report a change that did not happen. Values are
clamped to their column's range, so a host reporting the absurd is stored, not refused
(writes.py; the nodes' pci_devices rows, pci_devices.py, obey the same rules in the same
transaction).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import (
    ColumnElement,
    Connection,
    RowMapping,
    and_,
    func,
    null,
    or_,
    select,
)

from resource_tracker.db.dialect import update_returning_id, upsert, utc_now
from resource_tracker.db.models import LOCAL_STORAGE, services
from resource_tracker.db.models import compute_nodes as nodes
from resource_tracker.db.pci_devices import reconcile_devices
from resource_tracker.db.writes import differences, expect, fit, int_ranges, update_if_changed
from resource_tracker.resources import ComputeNodeValues, PciDeviceValues, Reconciled

BINARY = "resource-tracker"

INT_RANGES = int_ranges(nodes)


@dataclass(frozen=True, slots=True)
class Guard:
    """A condition the reconcile writes under, and what raises (why) when it does not hold."""

    holds: ColumnElement[bool]
    explain: Callable[[], None]


class LeastOnSharedStorage(Protocol):
    """What the reconcile needs of a storage other hosts use too: its id, and how a row on it
    gets its disk_available_least once the other hosts' over-commit there is known (the
    caller converts the units)."""

    @property
    def storage_id(self) -> str: ...

    @property
    def overcommit_bytes(self) -> int: ...

    def disk_available_least(self, others_overcommit_bytes: int) -> int: ...


def reconcile_host(
    connection: Connection,
    host: str,
    reported: Sequence[ComputeNodeValues],
    guard: Guard,
    shared: LeastOnSharedStorage | None = None,
    devices: Mapping[str, Sequence[PciDeviceValues]] | None = None,
) -> Reconciled:
    """Make the host's live rows hold `reported`, soft-delete the rest; say what changed.

    `devices`, by hypervisor_hostname, are the nodes' pci_devices rows; a node not in it
    keeps its rows as they are."""
    service_id = beat(connection, host, guard)
    others = _others_overcommit(connection, host, shared.storage_id) if shared else 0
    wanted = {
        name: columns | {"service_id": service_id}
        for name, columns in _wanted(host, reported, shared, others).items()
    }
    live, deleted = _stored_rows(connection, host, wanted)
    changed = False
    uuids = {}
    for hypervisor_hostname, columns in wanted.items():
        row = live.get(hypervisor_hostname)
        if row is not None:
            node_id, uuids[hypervisor_hostname] = row["id"], row["uuid"]
            changed |= update_if_changed(connection, nodes, row, columns)
        elif hypervisor_hostname in deleted:
            node_id = deleted[hypervisor_hostname]["id"]
            uuids[hypervisor_hostname] = deleted[hypervisor_hostname]["uuid"]
            _revive(connection, deleted[hypervisor_hostname], columns)
            changed = True
        else:
            node_id, uuids[hypervisor_hostname] = _insert(connection, host, columns)
            changed = True
        if devices is not None and hypervisor_hostname in devices:
            changed |= reconcile_devices(connection, node_id, devices[hypervisor_hostname])
    gone = set(live) - set(wanted)
    if gone:
        _soft_delete(connection, host, gone)
        changed = True
    least = {
        name: columns["disk_available_least"]
        for name, columns in wanted.items()
        if shared is not None and columns["storage_id"] == shared.storage_id
    }
    every = others + shared.overcommit_bytes if shared is not None else None
    return Reconciled(changed, least, uuids=uuids, shared_overcommit_bytes=every)


@dataclass(frozen=True, slots=True)
class Planned:
    """What a reconcile would do to one node: create, update, revive, delete or nothing."""

    hypervisor_hostname: str
    action: str
    differences: dict[str, tuple[Any, Any]]  # column: (stored, reported)


def plan_host(
    connection: Connection,
    host: str,
    reported: Sequence[ComputeNodeValues],
    shared: LeastOnSharedStorage | None = None,
) -> list[Planned]:
    """What reconcile_host would do, read without writing anything (not even the heartbeat)."""
    others = _others_overcommit(connection, host, shared.storage_id) if shared else 0
    wanted = _wanted(host, reported, shared, others)
    live, deleted = _stored_rows(connection, host, wanted)
    plans = []
    for name, columns in wanted.items():
        stored = live.get(name) or deleted.get(name)
        if stored is None:
            plans.append(Planned(name, "create", {k: (None, v) for k, v in columns.items()}))
            continue
        changed = {k: (stored[k], v) for k, v in differences(stored, columns).items()}
        action = "revive" if name not in live else "update" if changed else "unchanged"
        plans.append(Planned(name, action, changed))
    plans += [Planned(name, "delete", {}) for name in sorted(set(live) - set(wanted))]
    return plans


def beat(connection: Connection, host: str, guard: Guard) -> int:
    """Bump the tracker's services row (creating it the first time); return its id."""
    this_service = and_(
        services.c.host == host, services.c.binary == BINARY, services.c.deleted == 0
    )
    bump = {"report_count": services.c.report_count + 1, "updated_at": utc_now()}
    # An UPDATE first: the row exists on every audit but the first, and an upsert that finds
    # it would still use up an AUTO_INCREMENT value, every period, on thousands of hosts.
    service_id = update_returning_id(connection, services, and_(this_service, guard.holds), bump)
    if service_id is not None:
        return service_id
    guard.explain()  # raises, unless the guard holds and the row is simply not there yet
    new = {
        "host": host,
        "binary": BINARY,
        "report_count": 1,
        "disabled": False,
        "deleted": 0,
        "created_at": utc_now(),
        "updated_at": utc_now(),
    }
    return upsert(connection, services, new, key=("host", "binary", "deleted"), update=bump)


def _wanted(host, reported, shared, others: int) -> dict[str, dict[str, Any]]:
    """The columns of each reported node, by name: its storage named, and on shared storage
    its disk_available_least counting what every other live host's disks may grow into."""
    wanted = {}
    for values in reported:
        columns = dataclasses.asdict(values)
        columns["storage_id"] = columns["storage_id"] or f"{LOCAL_STORAGE}{host}"
        if shared is not None and columns["storage_id"] == shared.storage_id:
            columns["disk_available_least"] = shared.disk_available_least(others)
        wanted[values.hypervisor_hostname] = fit(INT_RANGES, columns)
    return wanted


def _others_overcommit(connection: Connection, host: str, storage_id: str) -> int:
    query = select(func.coalesce(func.sum(nodes.c.disk_overcommit_bytes), 0)).where(
        nodes.c.storage_id == storage_id, nodes.c.deleted == 0, nodes.c.host != host
    )
    return int(connection.execute(query).scalar_one())


def _stored_rows(connection: Connection, host: str, wanted: Mapping[str, Any]):
    """The host's live rows, and its soft-deleted rows that could be revived, by name."""
    query = select(nodes).where(
        nodes.c.host == host,
        or_(nodes.c.deleted == 0, nodes.c.hypervisor_hostname.in_(list(wanted))),
    )
    live: dict[str, RowMapping] = {}
    deleted: dict[str, RowMapping] = {}
    for row in connection.execute(query).mappings():
        if row["deleted"] == 0:
            live[row["hypervisor_hostname"]] = row
        else:
            # of several deletions of the same name, revive the latest
            previous = deleted.get(row["hypervisor_hostname"])
            if previous is None or row["id"] > previous["id"]:
                deleted[row["hypervisor_hostname"]] = row
    return live, deleted


def _revive(connection: Connection, row: RowMapping, columns: Mapping) -> None:
    """The row comes back under its id and uuid; its history of creation is kept.

    Matched on the `deleted` value read, whatever it is: ours (the row's id), or another an
    operator set by hand."""
    result = connection.execute(
        nodes.update()
        .where(nodes.c.id == row["id"], nodes.c.deleted == row["deleted"])
        .values({**columns, "deleted": 0, "deleted_at": null(), "updated_at": utc_now()})
    )
    expect(result, 1, f"revival of row {row['id']}", nodes)


def _insert(connection: Connection, host: str, columns: Mapping) -> tuple[int, str]:
    new = {
        **columns,
        "uuid": str(uuid.uuid4()),
        "host": host,
        "deleted": 0,
        "created_at": utc_now(),
    }
    node_id = upsert(
        connection,
        nodes,
        new,
        key=("host", "hypervisor_hostname", "deleted"),
        update={**columns, "updated_at": utc_now()},
    )
    # an upsert that met a row inserted meanwhile kept that row's uuid
    stored = connection.execute(select(nodes.c.uuid).where(nodes.c.id == node_id)).scalar_one()
    return node_id, stored


def _soft_delete(connection: Connection, host: str, hypervisor_hostnames: set[str]) -> None:
    result = connection.execute(
        nodes.update()
        .where(
            nodes.c.host == host,
            nodes.c.deleted == 0,
            nodes.c.hypervisor_hostname.in_(sorted(hypervisor_hostnames)),
        )
        .values(deleted=nodes.c.id, deleted_at=utc_now())
    )
    count = len(hypervisor_hostnames)
    expect(result, count, f"soft delete of {count} row(s)", nodes)
