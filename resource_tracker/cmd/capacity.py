"""resource-tracker-manage capacity: how many more VMs of one size fit, per host and in all."""

from __future__ import annotations

import math

from oslo_config import cfg

from resource_tracker.audit import capacity, last_audit
from resource_tracker.audit.fitting import flavor as fitting_flavor
from resource_tracker.cmd import fail, flavor_views, last_audit_file, output, render
from resource_tracker.conf import capacity as conf_capacity
from resource_tracker.conf import pci as conf_pci
from resource_tracker.conf.default import service_down_time as down_time
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


FLAVOR_COLUMN = output.Column("FLAVOR", "flavor")
FIT_COLUMNS = (
    output.Column("HOST", "host"),
    output.Column("STATE", "state"),
    output.Column("FITS", "fits", right=True),
    output.Column(
        "BY_DISK",
        text=lambda h: (
            "-" if h["by_disk"] is None else f"{h['by_disk']}{'*' if h['shared_storage'] else ''}"
        ),
        right=True,
    ),
    output.Column(
        "LIMITED_BY",
        text=lambda h: ("never: " if h["never"] else "") + h["limited_by"],
        shrink=True,
    ),
)


def show(conf: cfg.ConfigOpts, database: Database) -> None:
    args = conf.category
    flavors = _flavors(conf, args)
    aliases = conf_pci.aliases(conf)
    try:
        requests = [fitting_flavor.request(flavor, aliases) for flavor in flavors]
    except fitting_flavor.FlavorError as error:
        fail(f"capacity: {error}", status=2)
    services = {service.host: service for service in database.services()}
    now = database.now()
    by_host = [
        capacity.host_fits(
            node,
            render.state(node, services.get(node.host), now, down_time(conf)),
            requests,
            args.disk_rule,
        )
        for node in database.compute_nodes()
    ]
    answers = [
        (flavor, fits, capacity.fleet_fit(fits))
        for flavor, fits in zip(
            flavors, ([fits[n] for fits in by_host] for n in range(len(flavors))), strict=True
        )
    ]
    shown = [
        _as_json(flavor, list(fits), fleet, args.disk_rule) for flavor, fits, fleet in answers
    ]
    if args.format in ("json", "yaml") and not args.columns:
        output.dump(args.format, shown[0] if len(shown) == 1 else {"flavors": shown})
        return
    several = len(answers) > 1
    entries = [
        {"flavor": flavor.label(), **host}
        for (flavor, _fits, _fleet), answer in zip(answers, shown, strict=True)
        for host in answer["hosts"]
    ]
    output.show_list(args, (FLAVOR_COLUMN,) * several + FIT_COLUMNS, entries)
    if args.format != "table":
        return
    for flavor, _fits, fleet in answers:
        print(f"fleet: {fleet} more VMs of {_described(flavor)}")
    notes = [f"BY_DISK by {RULES[args.disk_rule]}"]
    if any(fit.shared for _flavor, fits, _fleet in answers for fit in fits):
        notes.append("* shared storage: its disk counted once")
    output.hint("; ".join(notes))


RULES = {"least": "disk_available_least", "placement": "placement's DISK_GB"}


def _described(flavor: fitting_flavor.Flavor) -> str:
    name = "" if flavor.name is None else f"{render.printable(flavor.name)}: "
    specs = "".join(f", {key}={value}" for key, value in flavor.extra_specs)
    return (
        f"{name}{flavor.vcpus} vCPUs, {flavor.ram_mb} MiB RAM, {flavor.disk_gb} GiB disk"
        + render.printable(specs)
    )


def _flavors(conf: cfg.ConfigOpts, args) -> list[fitting_flavor.Flavor]:
    if args.flavor is not None:
        return [_named(conf, args)]
    if args.vcpus is not None or args.ram is not None:
        return [_sized(args)]
    named = list(conf_capacity.flavors(conf))
    if not named:
        fail(
            "capacity: give --flavor NAME, or --vcpus and --ram (and --disk), or set "
            "[capacity] flavors_file",
            status=2,
        )
    return named


def _sized(args) -> fitting_flavor.Flavor:
    if args.vcpus is None or args.ram is None:
        fail("capacity: give --flavor NAME, or --vcpus and --ram (and --disk)", status=2)
    specs = []
    for given in args.extra_spec or ():
        key, equals, value = given.partition("=")
        if not equals or not key:
            fail(f"capacity: --extra-spec {given!r}: give KEY=VALUE", status=2)
        specs.append((key, value))
    return fitting_flavor.Flavor(
        vcpus=args.vcpus,
        ram_mb=math.ceil(args.ram / MiB),
        root_gb=math.ceil((args.disk or 0) / GiB),
        extra_specs=tuple(specs),
    )


def _named(conf: cfg.ConfigOpts, args) -> fitting_flavor.Flavor:
    """The flavor of [capacity] flavors_file, else the sizes of one this host's last audit
    saw its domains built from (without extra specs: the metadata does not carry them)."""
    name = args.flavor
    given = [f"--{opt}" for opt in ("vcpus", "ram", "disk") if getattr(args, opt) is not None]
    if args.extra_spec:
        given.append("--extra-spec")
    if given:
        fail(f"capacity: --flavor {name} takes the flavor's sizes: drop {', '.join(given)}", 2)
    for flavor in conf_capacity.flavors(conf):
        if flavor.name == name:
            return flavor
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
            return fitting_flavor.Flavor(
                vcpus=seen.vcpus,
                ram_mb=seen.memory_mb,
                root_gb=seen.disk_gb,
                ephemeral_gb=seen.ephemeral_gb,
                swap_mb=seen.swap_mb,
                name=name,
            )
    fail(
        f"capacity: --flavor {name}: no domain of {conf.host} used it at the last audit; "
        f"flavors seen: {flavor_views.known_names(recorded)}"
    )


def _as_json(
    flavor: fitting_flavor.Flavor, fits: list[capacity.HostFit], fleet: int, disk_rule: str
) -> dict:
    sizes: dict[str, object] = {
        "vcpus": flavor.vcpus,
        "ram_mb": flavor.ram_mb,
        "disk_gb": flavor.disk_gb,
    }
    if flavor.extra_specs:
        sizes["extra_specs"] = dict(flavor.extra_specs)
    return {
        "flavor": sizes if flavor.name is None else {"name": flavor.name, **sizes},
        "disk_rule": disk_rule,
        "hosts": [
            {
                "host": fit.host,
                "hypervisor_hostname": fit.hypervisor_hostname,
                "state": fit.state,
                "storage_id": fit.storage_id,
                "shared_storage": fit.shared,
                "fits": fit.fits,
                "limited_by": fit.limited_by,
                "never": fit.never,
                "by_disk": fit.by_disk,
                "by_disk_least": fit.by_disk_least,
                "by_disk_placement": fit.by_disk_placement,
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
        help="a flavor of [capacity] flavors_file, or the sizes of a Nova flavor this host's "
        "last audit saw (instead of the sizes below); neither this nor sizes: every flavor of "
        "the file",
    )
    parser.add_argument("--vcpus", type=positive, help="vCPUs of one VM")
    parser.add_argument(
        "--ram", type=size(MiB, minimum=MiB), metavar="SIZE", help="RAM, e.g. 8G (bare: MiB)"
    )
    parser.add_argument(
        "--disk", type=size(GiB), metavar="SIZE", help="root disk, e.g. 80G (bare: GiB)"
    )
    parser.add_argument(
        "--extra-spec",
        action="append",
        metavar="KEY=VALUE",
        help="an extra spec of the flavor, as Nova's (repeat it), e.g. hw:cpu_policy=dedicated",
    )
    parser.add_argument(
        "--disk-rule",
        choices=capacity.DISK_RULES,
        default="least",
        help="count DISK_GB against disk_available_least (default: thin disks may grow) or "
        "as placement counts it (local_gb - local_gb_used)",
    )
    output.add_options(parser)
    parser.set_defaults(run=show)
