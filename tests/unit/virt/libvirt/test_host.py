"""Host facts from libvirt's answers: cpu_info's topology as Nova's _get_cpu_info writes it."""

from __future__ import annotations

import os

import pytest

from resource_tracker.virt.libvirt import capabilities, host
from tests.support import nova

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "fixtures", "capabilities")
# getInfo() of a host that says 8 NUMA nodes, 2 sockets per node, 4 cores, 2 threads
INFO = ["x86_64", 65536, 64, 2400, 8, 2, 4, 2]
NO_TOPOLOGY = "<capabilities><host><cpu><arch>x86_64</arch></cpu></host></capabilities>"
EMPTY_TOPOLOGY = (
    "<capabilities><host><cpu><arch>x86_64</arch></cpu>"
    "<topology><cells num='0'></cells></topology></host></capabilities>"
)


# Nova 34's LibvirtDriver._get_cpu_info on a capabilities XML: its cpu_info topology, and
# whether it would write a numa_topology (_get_host_numa_topology returns None without cells).
NOVA_CPU_INFO = """
import json, sys
from nova.virt.libvirt import config, driver

class Host:
    def __init__(self, xml):
        self.caps = config.LibvirtConfigCaps()
        self.caps.parse_str(xml)
    def get_capabilities(self):
        return self.caps

answers = []
for xml in json.load(sys.stdin):
    fake = type("Driver", (), {})()
    fake._host = Host(xml)
    topology = driver.LibvirtDriver._get_cpu_info(fake)["topology"]
    caps_topology = fake._host.caps.host.topology
    answers.append([topology["cells"], bool(caps_topology and caps_topology.cells)])
print(json.dumps(answers))
"""


def fixture(name: str) -> str:
    with open(os.path.join(FIXTURES, name)) as xml:
        return xml.read()


@pytest.mark.parametrize(
    ("xml", "cells"),
    [
        (fixture("four-cells-pages.xml"), 4),
        (fixture("one-socket.xml"), 1),
        (EMPTY_TOPOLOGY, 0),
        (NO_TOPOLOGY, 1),
    ],
    ids=["four-cells", "one-cell", "empty-topology", "no-topology"],
)
def test_cells_never_come_from_get_info(xml, cells):
    cpu_info = host.cpu_info(capabilities.parse(xml), INFO, ())

    assert cpu_info.topology.cells == cells


def test_cells_and_numa_topology_as_nova_34_writes_them():
    xmls = [fixture("four-cells-pages.xml"), EMPTY_TOPOLOGY, NO_TOPOLOGY]

    ours = [
        [host.cpu_info(caps, INFO, ()).topology.cells, bool(caps.topology.cells)]
        for caps in map(capabilities.parse, xmls)
    ]

    assert ours == nova.run(NOVA_CPU_INFO, xmls)


def test_huge_pages_free_leaves_out_each_cells_ordinary_pages():
    """What tells the driver to read the capabilities again: the ordinary pages' free count
    changes all the time, a huge page pool's only with a resize or a guest's start/stop."""
    with open(os.path.join(FIXTURES, "offline-cpus-libvirt9.xml")) as fixture:
        topology = capabilities.parse(fixture.read()).topology
    free = {0: {4: 1000, 2048: 3}, 1: {4: 2000}}

    assert host.huge_pages_free(topology, free) == (3, None)
    assert host.huge_pages_free(topology, {0: {4: 1, 2048: 3}, 1: {4: 2}}) == (3, None)
    assert host.huge_pages_free(topology, {}) == (None, None)
    filled = host.with_free_pages(topology, free).cells
    assert [[pool.free for pool in cell.pages] for cell in filled] == [[1000, 3], [2000, None]]
