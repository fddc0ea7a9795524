"""PCI requests against a host's pools, as Nova 34's PciDeviceStats (pci/stats.py) does.

A pool is a dict of its keys and tags with a count (PciDeviceStats.pools). A request is
met from the pools that match one of its specs (case-insensitive, as pci_device_prop_match),
on suitable NUMA nodes by its policy (required: the guest's cells; legacy: those, or no
node; preferred: those first, then any; socket: the cells of the guest's sockets), without
PFs, vDPA or remote-managed devices unless asked for, nor devices of the wrong
live_migratable; devices are taken from the first matching pools in order.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from resource_tracker.audit.fitting.flavor import PciRequest
from resource_tracker.audit.fitting.host import Cell

Pool = dict[str, Any]
TRUE = ("1", "t", "true", "on", "y", "yes")


def free_by_cell(pools: Sequence[Pool]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for pool in pools:
        counts[pool["numa_node"]] = counts.get(pool["numa_node"], 0) + pool["count"]
    return counts


def supports(
    pools: Sequence[Pool],
    requests: Sequence[PciRequest],
    cells: Sequence[Cell],
    guest_cells: Sequence[int] | None,
) -> bool:
    """Nova's support_requests: whether every request can be met, the pools untouched."""
    trial = [dict(pool) for pool in pools]
    return apply(trial, requests, cells, guest_cells)


def apply(
    pools: list[Pool],
    requests: Sequence[PciRequest],
    cells: Sequence[Cell],
    guest_cells: Sequence[int] | None,
) -> bool:
    """Nova's apply_requests: the devices taken from `pools`; False if one request fails
    (the pools then partly taken, as Nova's are before it raises)."""
    for request in requests:
        chosen = _filter(pools, request, cells, guest_cells)
        if not chosen:
            return False
        count = request.count
        for pool in chosen:
            if pool["count"] > count:
                pool["count"] -= count
                break
            count -= pool["count"]
            pools.remove(pool)
            if not count:
                break
    return True


def _filter(
    pools: Sequence[Pool],
    request: PciRequest,
    cells: Sequence[Cell],
    guest_cells: Sequence[int] | None,
) -> list[Pool] | None:
    specs = _specs(request.specs)
    chosen = [pool for pool in pools if any(_matches(pool, spec) for spec in specs)]
    if _count(chosen) < request.count:
        return None
    chosen = _by_numa(chosen, request, cells, guest_cells)
    if _count(chosen) < request.count:
        return None
    for key, value in (("dev_type", "type-PF"), ("dev_type", "vdpa")):
        if all(spec.get(key) != value.lower() for spec in specs):  # specs: lower case
            chosen = [pool for pool in chosen if pool.get(key) != value]
    if _count(chosen) < request.count:
        return None
    if all(not _true(spec.get("remote_managed")) for spec in specs):
        chosen = [pool for pool in chosen if not _true(pool.get("remote_managed"))]
    for wanted in ("true", "false"):
        if all(spec.get("live_migratable") == wanted for spec in specs):
            chosen = [pool for pool in chosen if pool.get("live_migratable") == wanted]
    if _count(chosen) < request.count:
        return None
    return chosen


def _by_numa(
    pools: list[Pool],
    request: PciRequest,
    cells: Sequence[Cell],
    guest_cells: Sequence[int] | None,
) -> list[Pool]:
    """Nova's _filter_pools_for_numa_cells."""
    if not guest_cells:
        return pools
    near = [pool for pool in pools if pool["numa_node"] in guest_cells]
    if request.numa_policy == "required" or _count(near) >= request.count:
        return near
    if request.numa_policy == "socket":
        if any(cell.socket is None for cell in cells):
            return []
        sockets = {cell.socket for cell in cells if cell.id in guest_cells}
        nodes = {cell.id for cell in cells if cell.socket in sockets}
        return [pool for pool in pools if pool["numa_node"] in nodes]
    allowed = [*guest_cells, None]
    near = [pool for pool in pools if pool["numa_node"] in allowed]
    if request.numa_policy == "legacy" or _count(near) >= request.count:
        return near
    return sorted(pools, key=lambda pool: pool["numa_node"] not in allowed)


@functools.cache
def _specs(specs: tuple[tuple[tuple[str, str], ...], ...]) -> tuple[dict[str, str], ...]:
    """An alias's specs as dicts, their values lower case (matched case-insensitively)."""
    return tuple({key: value.lower() for key, value in spec} for spec in specs)


def _matches(pool: Pool, spec: dict[str, str]) -> bool:
    for key, value in spec.items():
        have = pool.get(key)
        if isinstance(have, str):
            have = have.lower()
        if have != value:
            return False
    return True


def _count(pools: Sequence[Pool]) -> int:
    return sum(pool["count"] for pool in pools)


def _true(value: Any) -> bool:
    return isinstance(value, str) and value.strip().lower() in TRUE
