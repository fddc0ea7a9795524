"""resource-tracker-manage: set up the database and look at what the trackers wrote."""

from __future__ import annotations

import json
from datetime import datetime

from oslo_config import cfg

from resource_tracker.cmd import fail, load_config, open_database
from resource_tracker.db.api import Database
from resource_tracker.db.models import ComputeNode
from resource_tracker.exception import ResourceTrackerError

FORMATS = ("table", "json")


def db_sync(conf: cfg.ConfigOpts, database: Database) -> None:
    before, after = database.sync_schema()
    if before == after:
        print(f"schema of {database.masked_url} is current: revision {after}")
    else:
        print(f"schema of {database.masked_url} upgraded from {before or 'nothing'} to {after}")


def db_version(conf: cfg.ConfigOpts, database: Database) -> None:
    print(database.schema_revision() or "none")


def nodes_list(conf: cfg.ConfigOpts, database: Database) -> None:
    nodes = database.compute_nodes()
    if conf.category.format == "json":
        print(json.dumps([node_dict(node) for node in nodes], indent=2))
        return
    rows = [
        (
            node.host,
            node.hypervisor_hostname or "-",
            f"{node.vcpus_used}/{node.vcpus}",
            f"{node.free_ram_mb}/{node.memory_mb}",
            str(node.free_disk_gb),
            str(node.disk_available_least),
            str(node.running_vms),
            _when(node.updated_at or node.created_at),
        )
        for node in nodes
    ]
    header = (
        "HOST",
        "HYPERVISOR",
        "VCPUS",
        "RAM_FREE/MB",
        "DISK_FREE_GB",
        "LEAST_GB",
        "VMS",
        "UPDATED",
    )
    print(table(header, rows))


def nodes_show(conf: cfg.ConfigOpts, database: Database) -> None:
    host = conf.category.node_host or conf.host
    nodes = database.compute_nodes(host)
    if not nodes:
        fail(f"no compute node for host {host}")
    if conf.category.format == "json":
        print(json.dumps([node_dict(node) for node in nodes], indent=2))
        return
    width = max(len(column.name) for column in ComputeNode.__table__.columns)
    for index, node in enumerate(nodes):
        if index:
            print()
        for name, value in node_dict(node).items():
            if name == "cpu_info":
                value = "\n  " + json.dumps(value, indent=2).replace("\n", "\n  ")
            print(f"{name:<{width}}  {value}")


def node_dict(node: ComputeNode) -> dict:
    row = {}
    for column in ComputeNode.__table__.columns:
        value = getattr(node, column.key)
        if isinstance(value, datetime):
            value = value.isoformat()
        elif column.key == "cpu_info":
            value = json.loads(value)
        row[column.key] = value
    return row


def table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    return "\n".join(
        "  ".join(f"{cell:<{width}}" for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in (header, *rows)
    )


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def _add_commands(subparsers) -> None:
    db = subparsers.add_parser("db", help="database schema").add_subparsers(
        dest="action", required=True
    )
    db.add_parser("sync", help="create or upgrade the schema").set_defaults(run=db_sync)
    db.add_parser("version", help="print the schema revision").set_defaults(run=db_version)

    nodes = subparsers.add_parser("nodes", help="compute_nodes rows").add_subparsers(
        dest="action", required=True
    )
    listing = nodes.add_parser("list", help="one line per compute node")
    listing.set_defaults(run=nodes_list)
    show = nodes.add_parser("show", help="every column of one host's compute nodes")
    show.add_argument(
        "node_host", metavar="HOST", nargs="?", help="host name (default: [DEFAULT] host)"
    )
    show.set_defaults(run=nodes_show)
    for parser in (listing, show):
        parser.add_argument("--format", choices=FORMATS, default="table")


def main(argv: list[str] | None = None) -> int:
    category = cfg.SubCommandOpt("category", title="commands", handler=_add_commands)
    conf = load_config(argv, [category], description=__doc__)
    database = open_database(conf)
    try:
        conf.category.run(conf, database)
    except ResourceTrackerError as error:
        fail(error)
    finally:
        database.dispose()
    return 0
