"""Our numa_topology against Nova 34's own tracker, on domain XML as Nova 34 writes it.

For each host configuration, Nova's code (in its throwaway virtualenv) fits the flavors onto
the host, counts them (hardware.numa_usage_from_instance_numa) and writes their domain XML
(its libvirt driver's _get_guest_numa_config and friends). We parse that XML and count it;
the cells' cpu_usage, memory_usage, pinned_cpus and mempages used must be Nova's, and
Nova's numa_fit_instance_to_host must reach the same verdicts (fits or not, on which cells,
pinned to which CPUs) on our column as on its own.
"""

from __future__ import annotations

import json
import os

import pytest

from resource_tracker.audit import nova_format
from resource_tracker.audit.shape import LEGACY_SHARED_OPTION, ShapePolicy, host_shape
from resource_tracker.virt.libvirt import capabilities
from resource_tracker.virt.libvirt.domains import parse_domain
from tests.support import nova_numa
from tests.support.nova_numa import conf, flavor
from tests.unit.virt.libvirt.test_capabilities import FIXTURES

with open(os.path.join(FIXTURES, "two-sockets-smt.xml")) as _caps:
    CAPS = _caps.read()  # 2 cells: 0-3,8-11 and 4-7,12-15 (SMT pairs n, n+8), 2 MiB pages

DEDICATED = {"hw:cpu_policy": "dedicated"}
ONE_CELL = {"hw:numa_nodes": "1"}
EMULATOR_ISOLATE = DEDICATED | {"hw:emulator_threads_policy": "isolate"}
EMULATOR_SHARE = DEDICATED | {"hw:emulator_threads_policy": "share"}
THREAD_ISOLATE = DEDICATED | {"hw:cpu_thread_policy": "isolate"}
HUGE = {"hw:mem_page_size": "2MB"}

PROBES = [
    flavor("pinned-2", 2, 512, **DEDICATED),
    flavor("pinned-4", 4, 512, **DEDICATED),
    flavor("pinned-6", 6, 512, **DEDICATED),
    flavor("isolate-2", 2, 512, **EMULATOR_ISOLATE),
    flavor("threads-isolate-2", 2, 512, **THREAD_ISOLATE),
    flavor("pinned-8", 8, 512, **DEDICATED),
    flavor("pinned-12", 12, 512, **DEDICATED, **{"hw:numa_nodes": "2"}),
    flavor("floating-6", 6, 512, **ONE_CELL),
    flavor("floating-8", 8, 512, **ONE_CELL),
    flavor("huge-1g", 2, 1024, **ONE_CELL, **HUGE),
    flavor("huge-pinned-512m", 2, 512, **DEDICATED, **HUGE),
]

SPLIT = conf(dedicated="4-7,12-15", shared="0-3,8-11")
SPLIT_POLICY = ShapePolicy(
    frozenset({0, 1, 2, 3, 8, 9, 10, 11}), frozenset({4, 5, 6, 7, 12, 13, 14, 15})
)
MIXED = {"hw:cpu_policy": "mixed", "hw:cpu_dedicated_mask": "^0-1"}
MIXED_SETS = conf(dedicated="2-3,10-11,6-7,14-15", shared="0-1,8-9,4-5,12-13")

CASES = {
    # issue 19: one floating guest made cell 0 all pinned; Nova pins its vCPUs to the cell
    "legacy floating and dedicated": (
        conf(),
        ShapePolicy(),
        [
            flavor("floating", 2, 1024, **ONE_CELL),
            flavor("pinned", 2, 1024, **DEDICATED),
            flavor("floating-2", 4, 2048, **ONE_CELL),
        ],
    ),
    "emulator threads isolate and share": (
        SPLIT,
        SPLIT_POLICY,
        [
            flavor("floating", 2, 1024, **ONE_CELL),
            flavor("isolate", 2, 1024, **EMULATOR_ISOLATE),
            flavor("share", 2, 1024, **EMULATOR_SHARE),
        ],
    ),
    # Nova refuses the isolate thread policy on an SMT host with cpu_dedicated_set (placement
    # asks for the trait instead); in legacy mode it pins the siblings too
    "thread isolate takes whole cores": (
        conf(),
        ShapePolicy(),
        [
            flavor("threads", 2, 1024, **THREAD_ISOLATE),
            flavor("threads-emulator", 2, 1024, **THREAD_ISOLATE | EMULATOR_ISOLATE),
            flavor("plain", 1, 512, **DEDICATED),
        ],
    ),
    "mixed policy": (
        MIXED_SETS,
        ShapePolicy(
            frozenset({0, 1, 8, 9, 4, 5, 12, 13}), frozenset({2, 3, 10, 11, 6, 7, 14, 15})
        ),
        [
            flavor("mixed", 4, 1024, **MIXED),
            flavor("floating", 3, 1024, **ONE_CELL),
            flavor("pinned", 2, 1024, **EMULATOR_SHARE),
        ],
    ),
    "vcpu_pin_set legacy": (
        conf(pin_set="0-3,8-11,4-5"),
        ShapePolicy(
            shared_cpus=frozenset({0, 1, 2, 3, 8, 9, 10, 11, 4, 5}),
            shared_option=LEGACY_SHARED_OPTION,
        ),
        [
            flavor("ordinary", 4, 1024),  # no NUMA cells: <vcpu cpuset> of the shared CPUs
            flavor("pinned", 2, 1024, **DEDICATED),
            flavor("floating", 2, 1024, **ONE_CELL),
        ],
    ),
    "hugepages": (
        conf(),
        ShapePolicy(),
        [
            flavor("huge-floating", 2, 512, **ONE_CELL, **HUGE),
            flavor("huge-pinned", 2, 512, **DEDICATED, **HUGE),
            flavor("huge-two-cells", 2, 512, **{"hw:numa_nodes": "2"}, **HUGE),
        ],
    ),
}


def usage(column: str) -> list[dict]:
    cells = json.loads(column)["nova_object.data"]["cells"]
    return [
        {
            "id": data["id"],
            "cpu_usage": data["cpu_usage"],
            "memory_usage": data["memory_usage"],
            "pinned_cpus": sorted(data["pinned_cpus"]),
            "mempages": {
                str(pages["nova_object.data"]["size_kb"]): pages["nova_object.data"]["used"]
                for pages in data["mempages"]
            },
        }
        for data in (cell["nova_object.data"] for cell in cells)
    ]


@pytest.mark.parametrize("case", sorted(CASES))
def test_cells_and_fitting_verdicts_are_novas(case):
    cpu_conf, policy, instances = CASES[case]
    placed = nova_numa.place(CAPS, cpu_conf, instances)
    topology = capabilities.parse(CAPS).topology
    placements = [parse_domain(xml).placement for xml in placed["xml"]]

    shape = host_shape(topology, placements, policy, online_count=16)
    ours = nova_format.numa_topology(shape.cells)

    assert usage(ours) == placed["cells"]
    verdicts = nova_numa.probe(ours, placed["host"], PROBES)
    assert [v["ours"] for v in verdicts] == [v["nova"] for v in verdicts], verdicts
    assert all(v["claims"] for v in verdicts), verdicts


def test_the_issues_floating_guest_leaves_its_cell_to_pinned_guests():
    """Issue 19's host: one floating 2-vCPU guest made cell 0 all pinned in our old row, so
    Nova's fitting code refused a pinned guest needing both cells; Nova's own row takes it."""
    placed = nova_numa.place(CAPS, conf(), [flavor("floating", 2, 1024, **ONE_CELL)])
    (floating,) = (parse_domain(xml).placement for xml in placed["xml"])
    shape = host_shape(capabilities.parse(CAPS).topology, [floating], ShapePolicy(), 16)

    assert [(cell.vcpus_used, cell.pinned_cpus) for cell in shape.cells] == [
        (2, frozenset()),
        (0, frozenset()),
    ]
    probe = [flavor("pinned-12", 12, 512, **DEDICATED, **{"hw:numa_nodes": "2"})]
    (verdict,) = nova_numa.probe(nova_format.numa_topology(shape.cells), placed["host"], probe)
    assert verdict["ours"] == verdict["nova"] == [[0, 6, 0, None], [1, 6, 0, None]]
