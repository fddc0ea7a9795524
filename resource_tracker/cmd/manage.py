"""resource-tracker-manage: set up the database and look at what the trackers wrote."""

from __future__ import annotations

import json
import logging

from oslo_config import cfg

from resource_tracker.audit import last_audit
from resource_tracker.cmd import (
    capacity,
    device_views,
    fail,
    flavor_views,
    housekeeping,
    last_audit_file,
    load_config,
    open_database,
    placement_views,
    render,
    setup_logging,
    storage,
)
from resource_tracker.db.api import Database
from resource_tracker.db.models import LOCAL_STORAGE
from resource_tracker.exception import ResourceTrackerError
from resource_tracker.units import GiB, MiB

FORMATS = ("table", "json")
LIST_LEGEND = "RAM free/total GiB, DISK free GB, LEAST disk_available_least GB, SEEN last audit"
SHARED_LEGEND = "* shared storage (one row in storage list); LEAST counts all its hosts' disks"


def db_sync(conf: cfg.ConfigOpts, database: Database) -> None:
    before, after = database.sync_schema()
    if before == after:
        print(f"schema of {database.masked_url} is current: revision {after}")
    else:
        print(f"schema of {database.masked_url} upgraded from {before or 'nothing'} to {after}")


def db_version(conf: cfg.ConfigOpts, database: Database) -> None:
    print(database.schema_revision() or "none")


def nodes_list(conf: cfg.ConfigOpts, database: Database) -> None:
    nodes = database.compute_nodes(include_deleted=conf.category.all)
    services = {service.host: service for service in database.services()}
    now = database.now()
    entries = [(node, services.get(node.host)) for node in nodes]
    if conf.category.format == "json":
        shown = [_node_json(conf, node, service, now) for node, service in entries]
        print(json.dumps(shown, indent=2))
        return
    rows = [
        (
            node.host,
            node.hypervisor_hostname,
            f"{node.vcpus_used}/{node.vcpus}",
            f"{(node.free_ram_mb or 0) * MiB / GiB:.1f}/{node.memory_mb * MiB / GiB:.0f}",
            f"{node.free_disk_gb}{_shared_mark(node)}",
            node.disk_available_least,
            node.running_vms,
            render.age(render.heartbeat_age(service, now)),
            render.state(node, service, now, conf.service_down_time),
        )
        for node, service in entries
    ]
    header = ("HOST", "HYPERVISOR", "VCPUS", "RAM", "DISK", "LEAST", "VMS", "SEEN", "STATE")
    print(render.table(header, rows, right=range(2, 8), shrink=(0, 1)))
    print(LIST_LEGEND)
    if any(_shared_mark(node) for node, _ in entries):
        print(SHARED_LEGEND)


def nodes_show(conf: cfg.ConfigOpts, database: Database) -> None:
    host = conf.category.node_host or conf.host
    nodes = database.compute_nodes(host, include_deleted=True)
    live = [node for node in nodes if not node.deleted]
    # a host whose rows are all deleted shows the one created last
    nodes = live or sorted(nodes, key=lambda node: node.id)[-1:]
    if not nodes:
        fail(f"no compute node for host {host}")
    (service,) = database.services(host) or (None,)
    now = database.now()
    try:
        recorded, unreadable = last_audit_file(conf).read(host), None
    except last_audit.Unreadable as error:
        recorded, unreadable = None, str(error)
    pools = {}
    if any(_shared_mark(node) for node in nodes):
        pools = {pool["storage_id"]: pool for pool in database.storage_pools()}
    shown = []  # each node's JSON entry, and its last audit if this machine recorded it
    for node in nodes:
        entry = _node_json(conf, node, service, now)
        audit = recorded
        if audit is not None and audit.hypervisor_hostname != node.hypervisor_hostname:
            audit = None
        entry["last_audit"] = None if audit is None else audit.as_json()
        if unreadable:
            entry["last_audit_problem"] = unreadable
        pool = pools.get(node.storage_id)
        if pool is not None:  # what every live host's disks may grow into there
            entry["storage_overcommit_bytes"] = int(pool["disk_overcommit_bytes"])
        shown.append((entry, audit))
    if conf.category.format == "json":
        print(json.dumps([entry for entry, _ in shown], indent=2))
        return
    print("\n\n".join(_node_text(entry, audit) for entry, audit in shown))


def services_list(conf: cfg.ConfigOpts, database: Database) -> None:
    now = database.now()
    services = database.services()
    if conf.category.format == "json":
        print(json.dumps([_service_json(conf, service, now) for service in services], indent=2))
        return
    rows = [
        (
            entry["host"],
            entry["binary"],
            entry["report_count"],
            render.age(entry["heartbeat_age_s"]),
            entry["state"],
            "yes" if entry["disabled"] else "no",
        )
        for entry in (_service_json(conf, service, now) for service in services)
    ]
    header = ("HOST", "BINARY", "REPORTS", "SEEN", "STATE", "DISABLED")
    print(render.table(header, rows, right=(2, 3), shrink=(0,)))


def _shared_mark(node) -> str:
    return "" if node.storage_id.startswith(LOCAL_STORAGE) else "*"


def _node_json(conf, node, service, now) -> dict:
    entry = render.row_dict(node)
    entry["state"] = render.state(node, service, now, conf.service_down_time)
    entry["heartbeat_age_s"] = render.heartbeat_age(service, now)
    return entry


def _service_json(conf, service, now) -> dict:
    entry = render.row_dict(service)
    seen = render.heartbeat_age(service, now)
    entry["heartbeat_age_s"] = seen
    entry["state"] = "up" if seen is not None and seen <= conf.service_down_time else "down"
    return entry


def _node_text(entry: dict, recorded: last_audit.LastAudit | None) -> str:
    entry = dict(entry)
    cpu_info = entry.pop("cpu_info")
    numa_topology = entry.pop("numa_topology", None)
    entry.pop("last_audit", None)  # shown as the disks below
    unreadable = entry.pop("last_audit_problem", None)
    devices = {key: entry.pop(key) for key in ("pci_stats", "mdev_capacity") if key in entry}
    entry["heartbeat_age"] = render.age(entry.pop("heartbeat_age_s"))
    width = max(map(len, entry))
    lines = [f"{name:<{width}}  {_value_text(value)}" for name, value in entry.items()]
    lines.append("cpu_info")
    lines += ["  " + line for line in json.dumps(cpu_info, indent=2).splitlines()]
    lines.append("")
    lines += [render.numa_cells(numa_topology), ""]
    lines += device_views.node_devices_text(devices)
    lines.append("")
    storage_overcommit = entry.get("storage_overcommit_bytes")
    if recorded is not None:
        lines += [flavor_views.flavors_line(recorded), ""]
    lines += [f"disks: {unreadable}"] if unreadable else _disks_text(recorded, storage_overcommit)
    return "\n".join(lines)


def _value_text(value) -> str:
    if value is None:
        return "-"
    return json.dumps(value, sort_keys=True) if isinstance(value, (dict, list)) else str(value)


def _disks_text(
    recorded: last_audit.LastAudit | None, storage_overcommit: int | None
) -> list[str]:
    if recorded is None:
        return ["disks: no breakdown recorded on this machine (run this on the host itself)"]
    free, overcommit = recorded.free_bytes, recorded.overcommit_bytes
    audited_at = recorded.audited_at.isoformat(timespec="seconds")
    lines = [
        f"disks at the last audit ({audited_at}): free {render.gib(free)} GiB"
        f" - over-commit {render.gib(overcommit)} GiB = {render.gib(free - overcommit)} GiB"
    ]
    if storage_overcommit is not None:
        others = storage_overcommit - overcommit
        lines.append(
            f"shared storage: the row also subtracts the other hosts' over-commit, "
            f"{render.gib(others)} GiB: {render.gib(free - overcommit - others)} GiB"
        )
    rows = [
        (
            disk.domain,
            disk.target,
            disk.format,
            render.gib(disk.virtual_bytes),
            render.gib(disk.allocated_bytes),
            render.gib(disk.overcommit_bytes),
            disk.path + (f" ({disk.problem})" if disk.problem else ""),
        )
        for disk in recorded.disks
    ]
    header = ("DOMAIN", "DISK", "FORMAT", "VIRT_GB", "ALLOC_GB", "OVER_GB", "PATH")
    lines.append(render.table(header, rows, right=(3, 4, 5), shrink=(0, 6), keep_end=(6,)))
    return lines


def _add_commands(subparsers) -> None:
    db = subparsers.add_parser("db", help="database schema and old rows").add_subparsers(
        dest="action", required=True
    )
    db.add_parser("sync", help="create or upgrade the schema").set_defaults(run=db_sync)
    db.add_parser("version", help="print the schema revision").set_defaults(run=db_version)

    nodes = subparsers.add_parser("nodes", help="compute_nodes rows").add_subparsers(
        dest="action", required=True
    )
    listing = nodes.add_parser("list", help="one line per compute node")
    listing.add_argument("--all", action="store_true", help="include soft-deleted rows")
    listing.set_defaults(run=nodes_list)
    show = nodes.add_parser(
        "show",
        help="every column of one host's compute nodes, and its last audit's flavors and disks",
    )
    show.add_argument(
        "node_host", metavar="HOST", nargs="?", help="host name (default: [DEFAULT] host)"
    )
    show.set_defaults(run=nodes_show)

    devices = subparsers.add_parser("devices", help="pci_devices rows")
    devices_listing = devices.add_subparsers(dest="action", required=True).add_parser(
        "list", help="the offered PCI devices of a host (or all): kind, ids, state, domain"
    )
    devices_listing.add_argument(
        "device_host", metavar="HOST", nargs="?", help="host name (default: every host)"
    )
    devices_listing.add_argument(
        "--all",
        action="store_true",
        help="every PCI device of this host, offered or not, read from libvirt now, with "
        "why one is not offered ([pci] device_spec)",
    )
    devices_listing.set_defaults(run=device_views.devices_list)

    services = subparsers.add_parser("services", help="the trackers' heartbeats").add_subparsers(
        dest="action", required=True
    )
    services_listing = services.add_parser("list", help="one line per tracker daemon: up or down")
    services_listing.set_defaults(run=services_list)
    for parser in (listing, show, devices_listing, services_listing):
        parser.add_argument("--format", choices=FORMATS, default="table")
    housekeeping.add_commands(db, nodes, services)
    storage.add_commands(subparsers, FORMATS)
    capacity.add_command(subparsers, FORMATS)
    placement_views.add_command(subparsers, FORMATS)


def main(argv: list[str] | None = None) -> int:
    category = cfg.SubCommandOpt("category", title="commands", handler=_add_commands)
    conf = load_config(argv, [category], description=__doc__)
    setup_logging(conf, default_level=logging.WARNING)
    database = open_database(conf)
    try:
        conf.category.run(conf, database)
    except ResourceTrackerError as error:
        fail(error)
    finally:
        database.dispose()
    return 0
