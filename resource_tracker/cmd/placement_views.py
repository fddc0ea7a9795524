"""resource-tracker-manage placement show: this host's provider as Placement has it, what
the audit would change in it, and the drift between its allocations and the domains."""

from __future__ import annotations

import time

from oslo_config import cfg

from resource_tracker.audit.drift import Drift, drift
from resource_tracker.audit.provider import provider_tree
from resource_tracker.cmd import fail, output
from resource_tracker.conf import placement as placement_conf
from resource_tracker.db.api import Database
from resource_tracker.placement.client import PlacementClient, PlacementFailure
from resource_tracker.placement.sync import wanted_inventories, wanted_traits
from resource_tracker.placement.view import ProviderView, read_provider, related_providers
from resource_tracker.timeouts import PLACEMENT_BUDGET_S, PLACEMENT_CALL_S


def add_command(subparsers) -> None:
    placement = subparsers.add_parser("placement", help="this host's provider in Placement")
    show = placement.add_subparsers(dest="action", required=True).add_parser(
        "show",
        help="the provider as Placement has it, what this host's audit would change in it, "
        "and the drift between its allocations and the domains (reads libvirt now)",
    )
    # a tree, not a listing: no -c or csv/value, whose rows it has none of
    show.add_argument(
        "-f",
        "--format",
        choices=("table", "json", "yaml"),
        default="table",
        help="output format (default: table, as text)",
    )
    show.set_defaults(run=show_provider)


def show_provider(conf: cfg.ConfigOpts, database: Database) -> None:
    from resource_tracker.cmd import daemon  # the same wiring as the daemon's

    if not conf.placement.auth_type:
        fail("[placement] is not configured: auth_type and its options are needed")
    node = next((each for each in database.compute_nodes(conf.host) if not each.deleted), None)
    if node is None:
        fail(f"no compute node for host {conf.host}: run the daemon first")
    driver = daemon.libvirt_driver(conf)
    try:
        tracker = daemon.resource_tracker(conf, driver, database)
        measurement = tracker.measure(daemon.host_policy(conf))
    finally:
        driver.close()
    client = PlacementClient(placement_conf.adapter(conf), PLACEMENT_CALL_S)
    deadline = time.monotonic() + PLACEMENT_BUDGET_S
    try:
        view = read_provider(client, node.uuid, deadline)
        children, sharing = related_providers(client, view, deadline) if view else ([], [])
    except PlacementFailure as failure:
        fail(f"Placement ({failure.kind}): {failure}")
    policy = daemon.provider_policy(conf)
    resources, values = measurement.resources, measurement.values
    report = provider_tree(node.uuid, resources, values, policy, None, measurement.devices).root
    if view is None:
        fail(f"Placement has no provider {node.uuid} ({node.hypervisor_hostname}) yet")
    changes = _changes(view, report)
    drifted = drift(view.allocations, measurement.resources.guests)
    if conf.category.format in ("json", "yaml"):
        shown = _as_json(view, changes, drifted)
        shown["children"] = [_provider_json(child) for child in children]
        shown["sharing"] = [_provider_json(each) for each in sharing]
        output.dump(conf.category.format, shown)
    else:
        print(_as_text(view, changes, drifted))
        for label, views in (("child", children), ("sharing provider", sharing)):
            for each in views:
                print(f"{label} {each.name} ({each.uuid}), generation {each.generation}")
                print("\n".join(_inventory_lines(each)))


def _changes(view: ProviderView, report) -> list[str]:
    """What the next report would write, in words."""
    changes = []
    wanted = wanted_inventories(report, view.inventories)
    for rc in sorted(set(wanted) | set(view.inventories)):
        there, ours = view.inventories.get(rc), wanted.get(rc)
        if ours is None:
            changes.append(f"inventory {rc}: removed")
            continue
        fields = ", ".join(
            f"{key} {there[key] if there else '-'} -> {value}"
            for key, value in ours.items()
            if there is None or there.get(key) != value
        )
        if fields:
            changes.append(f"inventory {rc}: {fields}")
    traits = wanted_traits(report, view.traits)
    changes += [f"trait {name}: added" for name in sorted(traits - view.traits)]
    changes += [f"trait {name}: removed" for name in sorted(view.traits - traits)]
    return changes


def _provider_json(view: ProviderView) -> dict:
    return {
        "uuid": view.uuid,
        "name": view.name,
        "generation": view.generation,
        "inventories": view.inventories,
        "traits": sorted(view.traits),
        "aggregates": sorted(view.aggregates),
        "allocations": {a.consumer: dict(a.resources) for a in view.allocations},
    }


def _as_json(view: ProviderView, changes: list[str], drifted: tuple[Drift, ...]) -> dict:
    return {
        **_provider_json(view),
        "changes": changes,
        "drift": [{"kind": d.kind, "consumer": d.consumer, "detail": d.detail} for d in drifted],
    }


def _inventory_lines(view: ProviderView) -> list[str]:
    return [
        f"  {rc}: total {inventory['total']}, reserved {inventory['reserved']}, "
        f"ratio {inventory['allocation_ratio']}, units {inventory['min_unit']}-"
        f"{inventory['max_unit']} by {inventory['step_size']}"
        for rc, inventory in sorted(view.inventories.items())
    ]


def _as_text(view: ProviderView, changes: list[str], drifted: tuple[Drift, ...]) -> str:
    lines = [f"provider {view.name} ({view.uuid}), generation {view.generation}"]
    lines += _inventory_lines(view)
    lines.append(f"  traits: {', '.join(sorted(view.traits)) or 'none'}")
    lines.append(f"  aggregates: {', '.join(sorted(view.aggregates)) or 'none'}")
    lines.append(f"  allocations: {len(view.allocations)}")
    lines.append("differences from this audit: " + ("none" if not changes else ""))
    lines += [f"  {change}" for change in changes]
    lines.append("drift: " + ("none" if not drifted else ""))
    lines += [f"  {each.line()}" for each in drifted]
    return "\n".join(lines)
