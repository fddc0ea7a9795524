"""resource-tracker-manage capacity: how many more VMs of one size fit, per host and in all."""

from __future__ import annotations

import json
import math

from oslo_config import cfg

from resource_tracker.audit import capacity, last_audit
from resource_tracker.cmd import fail, flavor_views, last_audit_file, render
from resource_tracker.db.api import Database
from resource_tracker.units import GiB, MiB, parse_size


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(f"not a positive whole number: {text}")
    return value


positive.__name__ = "positive number"


def size(default_unit: int, minimum: int = 0):
    """An argparse type: '16G', '512MiB', '1.5T' (binary units), or a bare number in
    `default_unit` bytes; gives bytes."""

    def parse(text: str) -> int:
        value = parse_size(text, default_unit)
        if value < minimum:
            raise ValueError(f"too small: {text!r}")
        return value

    parse.__name__ = "size"  # argparse names the type in its error
    return parse


def show(conf: cfg.ConfigOpts, database: Database) -> None:
    args = conf.category
    flavor = _sized(args) if args.flavor is None else _named(conf, args)
    services = {service.host: service for service in database.services()}
    now = database.now()
    fits = [
        capacity.host_fit(
            node, render.state(node, services.get(node.host), now, conf.service_down_time), flavor
        )
        for node in database.compute_nodes()
    ]
    fleet = capacity.fleet_fit(fits)
    if args.format == "json":
        print(json.dumps(_as_json(flavor, fits, fleet), indent=2))
        return
    rows = [
        (
            fit.host,
            fit.state,
            fit.by_vcpus,
            fit.by_ram,
            "-" if fit.by_disk is None else f"{fit.by_disk}{'*' if fit.shared else ''}",
            fit.fits,
        )
        for fit in fits
    ]
    header = ("HOST", "STATE", "BY_VCPUS", "BY_RAM", "BY_DISK", "FITS")
    print(render.table(header, rows, right=range(2, 6), shrink=(0,)))
    print(
        f"fleet: {fleet} more VMs of "
        + ("" if flavor.name is None else f"{render.printable(flavor.name)}: ")
        + f"{flavor.vcpus} vCPUs, {flavor.ram_mb} MiB RAM, "
        f"{flavor.disk_gb} GiB disk"
        + (" (* shared storage: its disk counted once)" if any(f.shared for f in fits) else "")
    )


def _sized(args) -> capacity.Flavor:
    if args.vcpus is None or args.ram is None:
        fail("capacity: give --flavor NAME, or --vcpus and --ram (and --disk)", status=2)
    return capacity.Flavor(
        vcpus=args.vcpus,
        ram_mb=math.ceil(args.ram / MiB),
        disk_gb=math.ceil((args.disk or 0) / GiB),
    )


def _named(conf: cfg.ConfigOpts, args) -> capacity.Flavor:
    """The sizes of a flavor this host's last audit saw its domains built from."""
    name = args.flavor
    given = [f"--{opt}" for opt in ("vcpus", "ram", "disk") if getattr(args, opt) is not None]
    if given:
        fail(f"capacity: --flavor {name} takes the flavor's sizes: drop {', '.join(given)}", 2)
    record = last_audit_file(conf)
    try:
        recorded = record.read(conf.host)
    except last_audit.Unreadable as error:
        fail(f"capacity: --flavor {name}: {error}")
    if recorded is None:
        fail(
            f"capacity: --flavor {name}: no last audit of {conf.host} in {record.path} (the "
            "flavors come from this host's domains): run it on a compute host, or give --vcpus "
            "and --ram"
        )
    if recorded.flavors is None:
        fail(
            f"capacity: --flavor {name}: the last audit in {record.path} was written by an older "
            "version, without flavors; the next audit records them"
        )
    for seen in recorded.flavors:
        if seen.name == name:
            return capacity.Flavor(
                vcpus=seen.vcpus, ram_mb=seen.memory_mb, disk_gb=seen.placement_disk_gb, name=name
            )
    fail(
        f"capacity: --flavor {name}: no domain of {conf.host} used it at the last audit; "
        f"flavors seen: {flavor_views.known_names(recorded)}"
    )


def _as_json(flavor: capacity.Flavor, fits: list[capacity.HostFit], fleet: int) -> dict:
    sizes = {"vcpus": flavor.vcpus, "ram_mb": flavor.ram_mb, "disk_gb": flavor.disk_gb}
    return {
        "flavor": sizes if flavor.name is None else {"name": flavor.name, **sizes},
        "hosts": [
            {
                "host": fit.host,
                "hypervisor_hostname": fit.hypervisor_hostname,
                "state": fit.state,
                "storage_id": fit.storage_id,
                "shared_storage": fit.shared,
                "by_vcpus": fit.by_vcpus,
                "by_ram": fit.by_ram,
                "by_disk": fit.by_disk,
                "fits": fit.fits,
            }
            for fit in fits
        ],
        "fleet": fleet,
    }


def add_command(subparsers, formats) -> None:
    parser = subparsers.add_parser(
        "capacity", help="how many more VMs of a size fit, per host and in the fleet"
    )
    parser.add_argument(
        "--flavor",
        metavar="NAME",
        help="the sizes of a Nova flavor this host's last audit saw (instead of the three below)",
    )
    parser.add_argument("--vcpus", type=positive, help="vCPUs of one VM")
    parser.add_argument(
        "--ram", type=size(MiB, minimum=MiB), metavar="SIZE", help="RAM, e.g. 8G (bare: MiB)"
    )
    parser.add_argument(
        "--disk", type=size(GiB), metavar="SIZE", help="disk, e.g. 80G (bare: GiB)"
    )
    parser.add_argument("--format", choices=formats, default="table")
    parser.set_defaults(run=show)
