"""The JSON columns in Nova's formats: deterministic, and what Nova's loaders expect."""

from __future__ import annotations

import json

from resource_tracker.audit import nova_format
from resource_tracker.audit.shape import host_shape
from resource_tracker.resources import GuestType, NovaDomain, NovaInstance
from resource_tracker.virt.libvirt.domains import parse_domain
from tests.unit.audit.test_shape import SPLIT, TWO_SOCKETS
from tests.unit.virt.libvirt.test_domain_placement import PINNED


def test_numa_topology_is_nova_masters_versioned_primitive():
    shape = host_shape(TWO_SOCKETS, [parse_domain(PINNED).placement], SPLIT, 16)

    topology = json.loads(nova_format.numa_topology(shape.cells))

    assert topology["nova_object.name"] == "NUMATopology"
    assert topology["nova_object.version"] == "1.2"
    first, second = (cell["nova_object.data"] for cell in topology["nova_object.data"]["cells"])
    assert {cell["nova_object.version"] for cell in topology["nova_object.data"]["cells"]} == {
        "1.5"
    }
    assert second == {
        "id": 1,
        "cpuset": [],
        "pcpuset": [4, 5, 6, 7, 12, 13, 14, 15],
        "memory": 33444756 // 1024,
        "cpu_usage": 0,
        "memory_usage": 2048,
        "pinned_cpus": [4, 5, 6, 12, 13],
        "siblings": [[4, 12], [5, 13], [6, 14], [7, 15]],
        "mempages": [
            nova_format.nova_object(
                "NUMAPagesTopology",
                "1.1",
                {"size_kb": size, "total": total, "used": used, "reserved": 0},
            )
            for size, total, used in ((4, 8099061, 0), (2048, 512, 0), (1048576, 0, 2))
        ],
        "network_metadata": nova_format.nova_object(
            "NetworkMetadata", "1.0", {"physnets": [], "tunneled": False}
        ),
        "socket": 1,
    }
    assert first["memory_usage"] == 6144 and first["cpuset"] == [0, 1, 2, 3, 8, 9, 10, 11]


def test_equal_shapes_give_equal_strings():
    one = host_shape(TWO_SOCKETS, [parse_domain(PINNED).placement], SPLIT, 16)
    two = host_shape(TWO_SOCKETS, [parse_domain(PINNED).placement], SPLIT, 16)

    assert nova_format.numa_topology(one.cells) == nova_format.numa_topology(two.cells)
    assert nova_format.numa_topology(()) is None  # no cells: NULL, as Nova stores it


def test_supported_instances_canonicalized_as_nova_does():
    guests = [
        GuestType("x86_64", "kvm", "hvm"),
        GuestType("i386", "QEMU", "hvm"),
        GuestType("amd64", "xapi", "pv"),
        GuestType("x86_64", "kvm", "hvm"),  # twice
        GuestType("riscv64", "kvm", "hvm"),  # an arch Nova does not know
        GuestType("x86_64", "kvm", "linux"),  # nor this os type
    ]

    assert json.loads(nova_format.supported_instances(guests)) == [
        ["x86_64", "kvm", "hvm"],
        ["i686", "qemu", "hvm"],
        ["x86_64", "xen", "xen"],
    ]


def test_stats_count_domains_by_nova_vm_state():
    states = {"running": 3, "blocked": 1, "paused": 2, "shutoff": 4, "crashed": 1, "nostate": 1}

    assert json.loads(nova_format.stats(states, busy=2)) == {
        "num_instances": 12,
        "num_vm_active": 4,
        "num_vm_paused": 2,
        "num_vm_stopped": 4,
        "num_vm_error": 1,
        "io_workload": 2,
    }
    assert json.loads(nova_format.stats({}, busy=0)) == {"num_instances": 0, "io_workload": 0}


def test_the_numa_topology_written_reads_back_into_its_cells():
    shape = host_shape(TWO_SOCKETS, [parse_domain(PINNED).placement], SPLIT, 16)
    written = nova_format.numa_topology(shape.cells)

    cells = nova_format.read_numa_topology(json.loads(written))

    assert nova_format.numa_topology(cells) == written
    assert [cell.id for cell in cells] == [cell.id for cell in shape.cells]
    assert cells[1].memory_used_bytes == 2048 * 2**20
    assert [page.size_bytes for page in cells[1].pages] == [
        page.size_bytes for page in shape.cells[1].pages
    ]
    assert nova_format.read_numa_topology(None) == ()


def test_stats_count_nova_domains_by_project_and_os_type():
    def nova(project, os_type="linux", known=True):
        instance = NovaInstance(project_id=project, os_type=os_type, os_type_known=known)
        return NovaDomain("d", True, instance)

    domains = [nova("p1"), nova("p1", None), nova("p2", "windows"), nova(None, None, False)]

    stats = json.loads(nova_format.stats({"running": 5}, 0, domains))

    assert stats == {
        "num_instances": 5,  # the domain without metadata too
        "num_vm_active": 5,
        "io_workload": 0,
        "num_proj_p1": 2,
        "num_proj_p2": 1,
        "num_os_type_linux": 1,
        "num_os_type_None": 1,  # Nova's key for an image without os_type
        "num_os_type_windows": 1,
    }
