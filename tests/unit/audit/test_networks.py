"""Each cell's network_metadata from [neutron] physnets and friends (audit/networks.py)."""

from __future__ import annotations

import pytest

from resource_tracker.audit.networks import CellNetworks, NetworkAffinity, per_cell
from resource_tracker.exception import ConfigError


def test_each_cell_gets_the_physnets_that_name_it_and_the_tunnel_flag():
    affinity = NetworkAffinity((("foo", (0,)), ("bar", (0, 1))), tunnel_nodes=(1,))

    assert per_cell(affinity, [1, 0]) == {
        0: CellNetworks(frozenset({"foo", "bar"}), False),
        1: CellNetworks(frozenset({"bar"}), True),
    }


def test_nothing_configured_is_no_physnets_and_not_tunnelled():
    assert per_cell(NetworkAffinity(), [0]) == {0: CellNetworks(frozenset(), False)}


def test_a_tunnel_node_the_host_does_not_have_names_the_option():
    with pytest.raises(ConfigError, match=r"\[neutron_tunnel\] numa_nodes: node 2 .*\(0, 1\)"):
        per_cell(NetworkAffinity(tunnel_nodes=(2,)), [0, 1])
