"""Which NUMA cells each physical network and the tunnelled networks reach: each cell's
network_metadata, as Nova's libvirt driver builds it (driver.py `_get_host_numa_topology`:
`_get_physnet_numa_affinity`, `_get_tunnel_numa_affinity`). Pure."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from resource_tracker.exception import ConfigError


@dataclass(frozen=True, slots=True)
class NetworkAffinity:
    """[neutron] physnets with each one's [neutron_physnet_<name>] numa_nodes, and
    [neutron_tunnel] numa_nodes."""

    physnets: tuple[tuple[str, tuple[int, ...]], ...] = ()
    tunnel_nodes: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class CellNetworks:
    """One cell's network_metadata: Nova's NetworkMetadata."""

    physnets: frozenset[str] = frozenset()
    tunneled: bool = False


def per_cell(affinity: NetworkAffinity, cell_ids: Iterable[int]) -> dict[int, CellNetworks]:
    """Each cell's networks; ConfigError naming the option where it names a node the host
    does not have (Nova's InvalidNetworkNUMAAffinity, which fails its update likewise)."""
    ids = sorted(cell_ids)
    physnets: dict[int, set[str]] = {cell: set() for cell in ids}
    for name, nodes in affinity.physnets:
        for node in nodes:
            if node not in physnets:
                raise _absent(f"[neutron_physnet_{name}] numa_nodes", node, ids)
            physnets[node].add(name)
    for node in affinity.tunnel_nodes:
        if node not in physnets:
            raise _absent("[neutron_tunnel] numa_nodes", node, ids)
    tunneled = set(affinity.tunnel_nodes)
    return {cell: CellNetworks(frozenset(physnets[cell]), cell in tunneled) for cell in ids}


def _absent(option: str, node: int, ids: list[int]) -> ConfigError:
    have = ", ".join(map(str, ids)) or "none"
    return ConfigError(f"{option}: node {node} is not a NUMA node of this host ({have})")
