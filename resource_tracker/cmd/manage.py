"""resource-tracker-manage: set up the database and look at what the trackers wrote."""

from __future__ import annotations

import json
import logging
import os
import sys

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
    output,
    placement_views,
    render,
    require_schema,
    setup_logging,
    storage,
)
from resource_tracker.conf.default import service_down_time as down_time
from resource_tracker.db.api import Database
from resource_tracker.db.models import LOCAL_STORAGE, compute_nodes
from resource_tracker.exception import ResourceTrackerError
from resource_tracker.units import GiB, MiB

LIST_LEGEND = (
    "RAM free/total GiB; DISK free_disk_gb and LEAST disk_available_least, GiB; "
    "SEEN since the last heartbeat"
)
SHARED_LEGEND = "* shared storage (one row in storage list); LEAST counts all its hosts' disks"


def db_sync(conf: cfg.ConfigOpts, database: Database) -> None:
    before, after = database.sync_schema()
    if before == after:
        print(f"schema of {database.masked_url} is current: revision {after}")
    else:
        print(f"schema of {database.masked_url} upgraded from {before or 'nothing'} to {after}")


def db_version(conf: cfg.ConfigOpts, database: Database) -> None:
    # asking an SQLite file that is not there would create it
    print("none" if database.is_new_sqlite() else database.schema_revision() or "none")


NODE_COLUMNS = (
    output.Column("HOST", "host", shrink=True),
    output.Column("HYPERVISOR", "hypervisor_hostname", shrink=True),
    output.Column("VCPUS", text=lambda e: f"{e['vcpus_used']}/{e['vcpus']}", right=True),
    output.Column("RAM", text=lambda e: _ram_text(e), right=True),
    output.Column("DISK", text=lambda e: f"{e['free_disk_gb']}{_shared_mark(e)}", right=True),
    output.Column("LEAST", "disk_available_least", right=True),
    output.Column("VMS", "running_vms", right=True),
    output.Column("SEEN", text=lambda e: render.age(e["heartbeat_age_s"]), right=True),
    output.Column("STATE", "state"),
)
NODE_FIELDS = (*compute_nodes.c.keys(), "state")
SERVICE_COLUMNS = (
    output.Column("HOST", "host", shrink=True),
    output.Column("BINARY", "binary"),
    output.Column("REPORTS", "report_count", right=True),
    output.Column("SEEN", text=lambda e: render.age(e["heartbeat_age_s"]), right=True),
    output.Column("STATE", "state"),
    output.Column("DISABLED", text=lambda e: "yes" if e["disabled"] else "no"),
)


def nodes_list(conf: cfg.ConfigOpts, database: Database) -> None:
    nodes = database.compute_nodes(include_deleted=conf.category.all)
    services = {service.host: service for service in database.services()}
    now = database.now()
    entries = [_node_json(conf, node, services.get(node.host), now) for node in nodes]
    legend = LIST_LEGEND
    if any(_shared_mark(entry) for entry in entries):
        legend += "\n" + SHARED_LEGEND
    output.show_list(
        conf.category, NODE_COLUMNS, entries, (*NODE_FIELDS, "heartbeat_age_s"), legend
    )


def _ram_text(entry: dict) -> str:
    free, total = (entry["free_ram_mb"] or 0) * MiB / GiB, entry["memory_mb"] * MiB / GiB
    return f"{free:.1f}/{total:.0f}"


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
    if any(not node.storage_id.startswith(LOCAL_STORAGE) for node in nodes):
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
    output.show_one(
        conf.category,
        [entry for entry, _ in shown],
        lambda width: "\n\n".join(_node_text(entry, audit, width) for entry, audit in shown),
        many=True,
    )
    args = conf.category
    with_cells = any(entry.get("numa_topology") for entry, _ in shown)
    if args.format == "table" and not args.columns and with_cells:
        output.hint(render.NUMA_LEGEND)


def services_list(conf: cfg.ConfigOpts, database: Database) -> None:
    now = database.now()
    entries = [_service_json(conf, service, now) for service in database.services()]
    output.show_list(conf.category, SERVICE_COLUMNS, entries)


def _shared_mark(entry: dict) -> str:
    return "" if entry["storage_id"].startswith(LOCAL_STORAGE) else "*"


def _node_json(conf, node, service, now) -> dict:
    entry = render.row_dict(node)
    entry["state"] = render.state(node, service, now, down_time(conf))
    entry["heartbeat_age_s"] = render.heartbeat_age(service, now)
    return entry


def _service_json(conf, service, now) -> dict:
    entry = render.row_dict(service)
    seen = render.heartbeat_age(service, now)
    entry["heartbeat_age_s"] = seen
    entry["state"] = "up" if seen is not None and seen <= down_time(conf) else "down"
    return entry


def _node_text(entry: dict, recorded: last_audit.LastAudit | None, max_width: int) -> str:
    entry = dict(entry)
    cpu_info = entry.pop("cpu_info")
    numa_topology = entry.pop("numa_topology", None)
    entry.pop("last_audit", None)  # shown as the disks below
    unreadable = entry.pop("last_audit_problem", None)
    devices = {key: entry.pop(key) for key in ("pci_stats", "mdev_capacity") if key in entry}
    entry["heartbeat_age"] = render.age(entry.pop("heartbeat_age_s"))
    name_width = max(map(len, entry))
    lines = [f"{name:<{name_width}}  {_value_text(value)}" for name, value in entry.items()]
    lines.append("cpu_info")
    lines += ["  " + line for line in json.dumps(cpu_info, indent=2).splitlines()]
    lines.append("")
    lines += [render.numa_cells(numa_topology), ""]
    lines += device_views.node_devices_text(devices, max_width)
    lines.append("")
    storage_overcommit = entry.get("storage_overcommit_bytes")
    if recorded is not None:
        lines += [flavor_views.flavors_line(recorded), ""]
    lines += (
        [f"disks: {unreadable}"]
        if unreadable
        else _disks_text(recorded, storage_overcommit, max_width)
    )
    return "\n".join(lines)


def _value_text(value) -> str:
    if value is None:
        return "-"
    return json.dumps(value, sort_keys=True) if isinstance(value, (dict, list)) else str(value)


def _disks_text(
    recorded: last_audit.LastAudit | None, storage_overcommit: int | None, width: int
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
    header = ("DOMAIN", "DISK", "FORMAT", "VIRT_GIB", "ALLOC_GIB", "OVER_GIB", "PATH")
    lines.append(
        render.table(header, rows, right=(3, 4, 5), shrink=(0, 6), keep_end=(6,), width=width)
    )
    return lines


def _add_commands(subparsers) -> None:
    db = subparsers.add_parser("db", help="database schema and old rows").add_subparsers(
        dest="action", required=True
    )
    db.add_parser("sync", help="create or upgrade the schema").set_defaults(
        run=db_sync, needs_schema=False
    )
    db.add_parser("version", help="print the schema revision").set_defaults(
        run=db_version, needs_schema=False
    )

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
    # it checks the schema itself: --all reads libvirt, not the database
    devices_listing.set_defaults(run=device_views.devices_list, needs_schema=False)

    services = subparsers.add_parser("services", help="the trackers' heartbeats").add_subparsers(
        dest="action", required=True
    )
    services_listing = services.add_parser("list", help="one line per tracker daemon: up or down")
    services_listing.set_defaults(run=services_list)
    for parser in (listing, show, devices_listing, services_listing):
        output.add_options(parser)
    housekeeping.add_commands(db, nodes, services)
    storage.add_commands(subparsers, output.add_options)
    capacity.add_command(subparsers, output.FORMATS)
    placement_views.add_command(subparsers)


def main(argv: list[str] | None = None) -> int:
    """Exit status: 0 done; 1 it could not be done (an unknown host, no schema, a database
    that does not answer); 2 the command line or the configuration is wrong."""
    category = cfg.SubCommandOpt("category", title="commands", handler=_add_commands)
    conf = load_config(argv, [category], description=__doc__)
    setup_logging(conf, default_level=logging.WARNING)
    database = open_database(conf)
    try:
        if getattr(conf.category, "needs_schema", True):
            require_schema(database)
        conf.category.run(conf, database)
    except output.UsageError as error:
        fail(error, status=2)
    except BrokenPipeError:  # `| head` had what it wanted: no traceback, and no retry
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except ResourceTrackerError as error:
        fail(error)
    finally:
        database.dispose()
    return 0
