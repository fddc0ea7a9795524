"""[neutron] physnets, [neutron_physnet_<name>] numa_nodes, [neutron_tunnel] numa_nodes: the
NUMA nodes each physical network, and the tunnelled networks, reach (Nova's options, read as
nova/conf/neutron.py registers them: a group per listed physnet, once the files are read).
They make each cell's network_metadata in numa_topology."""

from __future__ import annotations

from oslo_config import cfg

from resource_tracker.audit.networks import NetworkAffinity
from resource_tracker.exception import ConfigError

GROUP = "neutron"
TUNNEL_GROUP = "neutron_tunnel"
PHYSNET_GROUP = "neutron_physnet_{}"

opts = [
    cfg.ListOpt(
        "physnets",
        default=[],
        help="The physical networks of this host whose NUMA affinity the scheduler should "
        "know, as Nova's option: each needs a [neutron_physnet_<name>] section with "
        "numa_nodes, the NUMA nodes its NICs are on. Each cell's network_metadata.physnets "
        "in numa_topology lists the physnets of that node. A physnet not listed has no "
        "NUMA affinity.",
    ),
]


def _numa_nodes(help_text: str) -> cfg.ListOpt:
    return cfg.ListOpt("numa_nodes", default=[], item_type=cfg.types.Integer(), help=help_text)


tunnel_opts = [
    _numa_nodes(
        "The NUMA nodes tunnelled networks (VXLAN, GRE, ...) reach, as Nova's option: those "
        "cells' network_metadata.tunneled is true. A node the host does not have fails "
        "the audit, as Nova's update fails."
    ),
]


def physnet_opts() -> list[cfg.Opt]:
    return [
        _numa_nodes(
            "The NUMA nodes this physical network reaches (required for a physnet listed in "
            "[neutron] physnets). A node the host does not have fails the audit, as Nova's "
            "update fails."
        )
    ]


def dynamic_groups(conf: cfg.ConfigOpts) -> list[tuple[str, list[cfg.Opt]]]:
    """A [neutron_physnet_<name>] group per physnet listed, as Nova registers them."""
    return [(PHYSNET_GROUP.format(name), physnet_opts()) for name in conf.neutron.physnets]


def affinity(conf: cfg.ConfigOpts) -> NetworkAffinity:
    """The options as a record for the audit; ConfigError for a physnet without numa_nodes
    (Nova refuses it at every update: here it stops start-up)."""
    physnets = []
    for name in conf.neutron.physnets:
        nodes = conf[PHYSNET_GROUP.format(name)].numa_nodes
        if not nodes:
            raise ConfigError(
                f"[neutron] physnets lists {name!r} but [{PHYSNET_GROUP.format(name)}] "
                "numa_nodes is not set"
            )
        physnets.append((name, tuple(nodes)))
    return NetworkAffinity(tuple(physnets), tuple(conf[TUNNEL_GROUP].numa_nodes))


def check(conf: cfg.ConfigOpts) -> None:
    affinity(conf)
