"""resource-tracker-manage's housekeeping: retire hosts, purge what was retired."""

from __future__ import annotations

import argparse
from datetime import datetime, timezone

from oslo_config import cfg

from resource_tracker.cmd import fail, render
from resource_tracker.conf.default import service_down_time as down_time
from resource_tracker.db.api import Database


def nodes_delete(conf: cfg.ConfigOpts, database: Database) -> None:
    host = conf.category.node_host
    _refuse_while_up(conf, database, host, "compute nodes")
    deleted = database.delete_compute_nodes(host)
    if not deleted:
        fail(f"no live compute node for host {host}")
    print(f"{host}: {deleted} compute node(s) marked deleted")


def services_delete(conf: cfg.ConfigOpts, database: Database) -> None:
    host = conf.category.node_host
    _refuse_while_up(conf, database, host, "tracker")
    services, nodes = database.delete_service(host)
    if not services and not nodes:
        fail(f"no live tracker or compute node for host {host}")
    print(f"{host}: tracker marked deleted ({services} service row(s), {nodes} compute node(s))")


def db_purge(conf: cfg.ConfigOpts, database: Database) -> None:
    before = conf.category.before
    really = conf.category.yes
    counts = database.purge_deleted(before, really=really)
    what = f"{counts['compute_nodes']} compute_nodes row(s) and {counts['services']} services"
    when = f"row(s) deleted before {before.isoformat(sep=' ')} UTC"
    devices = counts["pci_devices"]
    when += f", and {devices} pci_devices row(s) of those nodes or deleted before then"
    if really:
        print(f"removed {what} {when}")
    else:
        print(f"would remove {what} {when}; dry run: run again with --yes to remove them")


def parse_date(text: str) -> datetime:
    """An ISO 8601 date or date and time, in UTC unless it names its zone; naive UTC."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a date: {text!r} (e.g. 2026-01-31 or 2026-01-31T12:00)"
        ) from None
    if when.tzinfo is not None:
        when = when.astimezone(timezone.utc).replace(tzinfo=None)
    return when


def _refuse_while_up(conf: cfg.ConfigOpts, database: Database, host: str, what: str) -> None:
    """Stop, with one line, unless the host's tracker is silent or --force was given."""
    if conf.category.force:
        return
    (service,) = database.services(host) or (None,)
    age = render.heartbeat_age(service, database.now())
    if age is not None and age <= down_time(conf):
        fail(
            f"refusing to delete {host}'s {what}: its tracker reported {render.age(age)} ago "
            f"(service_down_time {down_time(conf)} s) and would write them again; "
            "stop it first, or use --force"
        )


def add_commands(db, nodes, services) -> None:
    purge = db.add_parser("purge", help="remove soft-deleted rows for good (dry run unless --yes)")
    purge.add_argument(
        "--before",
        required=True,
        type=parse_date,
        metavar="DATE",
        help="rows deleted before this UTC date or time (ISO 8601)",
    )
    purge.add_argument("--yes", action="store_true", help="really remove them")
    purge.set_defaults(run=db_purge)
    for group, run, noun in (
        (nodes, nodes_delete, "the host's compute nodes"),
        (services, services_delete, "the host's tracker and its compute nodes"),
    ):
        parser = group.add_parser("delete", help=f"mark {noun} deleted (soft delete)")
        parser.add_argument("node_host", metavar="HOST", help="host name")
        parser.add_argument(
            "--force", action="store_true", help="even while its tracker still reports"
        )
        parser.set_defaults(run=run)
