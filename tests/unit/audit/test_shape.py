"""CPU sets, cells and their use: the host's shape the tracker writes."""

from __future__ import annotations

from resource_tracker.audit.shape import (
    LEGACY_SHARED_OPTION,
    ReservedPages,
    ShapePolicy,
    host_shape,
)
from resource_tracker.resources import DEFAULT_HUGE_PAGES, GuestNumaCell, HostTopology, Placement
from resource_tracker.virt.libvirt.domains import parse_domain
from tests.unit.virt.libvirt.test_capabilities import parsed
from tests.unit.virt.libvirt.test_domain_placement import PINNED

GiB, MiB = 2**30, 2**20
TWO_SOCKETS = parsed("two-sockets-smt.xml").topology
FOUR_CELLS = parsed("four-cells-pages.xml").topology
OFFLINE = parsed("offline-cpus.xml").topology
SPLIT = ShapePolicy(
    shared_cpus=frozenset({0, 1, 2, 3, 8, 9, 10, 11}),
    dedicated_cpus=frozenset({4, 5, 6, 7, 12, 13, 14, 15}),
)


def test_without_sets_every_online_cpu_is_shared_and_pinnable_as_in_nova():
    shape = host_shape(TWO_SOCKETS, (), ShapePolicy(), online_count=16)

    assert (shape.vcpus, shape.pcpus, shape.pcpus_used) == (16, 0, 0)
    first, second = shape.cells
    assert first.shared_cpus == first.dedicated_cpus == {0, 1, 2, 3, 8, 9, 10, 11}
    assert second.shared_cpus == {4, 5, 6, 7, 12, 13, 14, 15}
    assert first.siblings == ({0, 8}, {1, 9}, {2, 10}, {3, 11})
    assert shape.problems == ()


def test_shared_and_dedicated_sets_split_the_cells():
    shape = host_shape(TWO_SOCKETS, (), SPLIT, online_count=16)

    assert (shape.vcpus, shape.pcpus) == (8, 8)
    first, second = shape.cells
    assert (first.shared_cpus, first.dedicated_cpus) == ({0, 1, 2, 3, 8, 9, 10, 11}, set())
    assert (second.shared_cpus, second.dedicated_cpus) == (set(), {4, 5, 6, 7, 12, 13, 14, 15})


def test_only_a_dedicated_set_leaves_no_shared_cpus():
    policy = ShapePolicy(dedicated_cpus=frozenset({4, 5}))

    shape = host_shape(TWO_SOCKETS, (), policy, online_count=16)

    assert (shape.vcpus, shape.pcpus) == (0, 2)
    assert shape.cells[1].dedicated_cpus == {4, 5} and shape.cells[1].shared_cpus == set()


def test_a_pinned_guest_uses_its_cells_pinned_cpus_and_pages():
    guest = parse_domain(PINNED).placement

    shape = host_shape(TWO_SOCKETS, [guest], SPLIT, online_count=16)

    first, second = shape.cells
    # guest cell 0 (2 GiB, 1 GiB pages) is bound to host cell 1; guest cell 1 (6 GiB, 2 MiB
    # pages) to host cell 0; every vCPU is pinned into the dedicated set
    assert (first.memory_used_bytes, second.memory_used_bytes) == (6 * GiB, 2 * GiB)
    assert (first.vcpus_used, second.vcpus_used) == (0, 0)
    assert second.pinned_cpus == {4, 5, 6, 12, 13} and first.pinned_cpus == set()
    assert shape.pcpus_used == 5
    pages = {(cell.id, page.size_bytes): page.used for cell in shape.cells for page in cell.pages}
    assert pages[0, 2 * MiB] == 3072 and pages[1, GiB] == 2
    assert pages[0, 4096] == pages[1, 4096] == 0


def test_shared_vcpus_and_ordinary_pages_of_a_floating_guest_bound_to_two_cells():
    guest = Placement(numa=(GuestNumaCell(frozenset(range(5)), 3 * MiB, frozenset({0, 1})),))

    shape = host_shape(TWO_SOCKETS, [guest], ShapePolicy(), online_count=16)

    assert [cell.vcpus_used for cell in shape.cells] == [3, 2]  # divided, the rest first
    assert [cell.memory_used_bytes for cell in shape.cells] == [3 * MiB // 2, 3 * MiB // 2]
    assert [cell.pages[0].used for cell in shape.cells] == [384, 384]  # 4 KiB pages
    assert [cell.pinned_cpus for cell in shape.cells] == [set(), set()]


def pinned(cell: int, vcpus: dict[int, frozenset[int]] | dict[int, set[int]], **kw) -> Placement:
    """A one-cell guest bound to host cell `cell`, its vCPUs pinned as given."""
    return Placement(
        numa=(GuestNumaCell(frozenset(vcpus), GiB, frozenset({cell})),),
        vcpu_pins=tuple((vcpu, frozenset(cpus)) for vcpu, cpus in vcpus.items()),
        **kw,
    )


def test_only_one_to_one_pins_into_dedicated_cpus_are_dedicated():
    guest = pinned(1, {0: {4}, 1: {0, 4}, 2: {12, 13}, 3: {0}})  # 1 on {0,4}, 3 on shared 0

    shape = host_shape(TWO_SOCKETS, [guest], SPLIT, online_count=16)

    assert shape.cells[1].vcpus_used == 3
    assert (shape.cells[1].pinned_cpus, shape.pcpus_used) == ({4}, 1)


def test_a_legacy_floating_guest_pinned_to_its_whole_cell_is_shared_use():
    """Issue 19: without CPU sets Nova pins a floating NUMA guest's vCPUs to the cell's
    whole cpuset (= pcpuset); that is cpu_usage, not pinned_cpus."""
    cell0 = frozenset({0, 1, 2, 3, 8, 9, 10, 11})
    floating = pinned(0, {0: cell0, 1: cell0}, emulator_pins=cell0)
    dedicated = pinned(1, {0: {4}, 1: {12}}, emulator_pins=frozenset({4, 12}))

    shape = host_shape(TWO_SOCKETS, [floating, dedicated], ShapePolicy(), online_count=16)

    assert [(c.vcpus_used, c.pinned_cpus) for c in shape.cells] == [(2, set()), (0, {4, 12})]
    assert shape.pcpus_used == 0  # no cpu_dedicated_set: the column counts it only


def test_the_emulator_holds_a_cpu_only_as_isolate_writes_it():
    isolate = pinned(1, {0: {4}, 1: {5}}, emulator_pins=frozenset({6}))
    own = pinned(1, {0: {7}}, emulator_pins=frozenset({7}))  # no policy: the vCPUs' CPUs
    share = pinned(1, {0: {12}}, emulator_pins=SPLIT.shared_cpus)  # share: the shared set

    shape = host_shape(TWO_SOCKETS, [isolate, own, share], SPLIT, online_count=16)

    assert shape.cells[1].pinned_cpus == {4, 5, 6, 7, 12}
    assert shape.cells[0].pinned_cpus == set()


def test_thread_isolate_holds_the_siblings_too():
    guest = pinned(1, {0: {4}, 1: {5}}, emulator_pins=frozenset({6}), thread_isolate=True)

    shape = host_shape(TWO_SOCKETS, [guest], SPLIT, online_count=16)

    assert shape.cells[1].pinned_cpus == {4, 12, 5, 13, 6, 14}
    assert shape.pcpus_used == 6


def test_odd_pins_never_fail_and_count_once():
    """A pin to an offline CPU is shared use; two domains on one CPU pin it once; two
    vCPUs of one domain on one CPU are no dedicated pins."""
    policy = ShapePolicy(dedicated_cpus=frozenset({4, 5, 7}))
    offline = pinned(1, {0: {6}, 1: {4}})  # CPU 6 is offline
    again = pinned(1, {0: {4}})
    doubled = pinned(1, {0: {5}, 1: {5}})

    shape = host_shape(OFFLINE, [offline, again, doubled], policy, online_count=6)

    assert shape.cells[1].pinned_cpus == {4}
    assert shape.cells[1].vcpus_used == 1 + 0 + 2
    assert shape.pcpus_used == 1


def test_an_unbound_guest_uses_no_cell():
    guest = Placement(numa=(GuestNumaCell(frozenset({0, 1}), GiB),))

    shape = host_shape(TWO_SOCKETS, [guest], ShapePolicy(), online_count=16)

    assert [(c.vcpus_used, c.memory_used_bytes) for c in shape.cells] == [(0, 0), (0, 0)]


def test_pins_to_the_shared_set_are_not_pinned_cpus():
    # Nova pins a floating guest's vCPUs to the whole shared set
    shared = SPLIT.shared_cpus
    guest = Placement(
        numa=(GuestNumaCell(frozenset({0, 1}), GiB, frozenset({0})),),
        vcpu_pins=((0, shared), (1, shared)),
    )

    shape = host_shape(TWO_SOCKETS, [guest], SPLIT, online_count=16)

    assert shape.pcpus_used == 0 and shape.cells[0].vcpus_used == 2


def test_reserved_huge_pages_are_reported_per_cell_and_size():
    policy = ShapePolicy(
        reserved_pages=(ReservedPages(1, 2 * MiB, 64), ReservedPages(0, GiB, 1)),
    )

    shape = host_shape(FOUR_CELLS, (), policy, online_count=32)

    reserved = {(c.id, p.size_bytes): p.reserved for c in shape.cells for p in c.pages}
    assert reserved[1, 2 * MiB] == 64 and reserved[0, GiB] == 1
    assert sum(reserved.values()) == 65
    assert shape.problems == ()


def test_unused_huge_pages_are_closed_to_other_guests():
    pools = (1024 + 2048 + 3072 + 4096) * 2 * MiB + 8 * GiB
    assert host_shape(FOUR_CELLS, (), ShapePolicy(), 32).unused_huge_page_bytes == pools
    bound = Placement(numa=(GuestNumaCell(frozenset({0}), 2 * GiB, frozenset({0}), GiB),))
    unbound = Placement(numa=(GuestNumaCell(frozenset({0}), GiB, frozenset(), 2 * MiB),))
    default = Placement(
        numa=(GuestNumaCell(frozenset({0}), 4 * MiB, frozenset({3}), DEFAULT_HUGE_PAGES),)
    )

    shape = host_shape(FOUR_CELLS, [bound, unbound, default], ShapePolicy(), 32)

    assert shape.unused_huge_page_bytes == pools - 2 * GiB - GiB - 4 * MiB
    assert shape.cells[3].pages[1].used == 2  # the host's default huge pages: 2 MiB


def test_offline_and_absent_cpus_are_named_and_left_out():
    policy = ShapePolicy(
        shared_cpus=frozenset({0, 1, 2, 3}),
        dedicated_cpus=frozenset({4, 5, 6, 7, 40}),
        shared_option=LEGACY_SHARED_OPTION,
    )

    shape = host_shape(OFFLINE, (), policy, online_count=6)

    assert shape.problems == (
        "[DEFAULT] vcpu_pin_set: CPUs 3 are offline or absent (online: 0-2,4-5,7)",
        "[compute] cpu_dedicated_set: CPUs 6,40 are offline or absent (online: 0-2,4-5,7)",
    )
    assert (shape.vcpus, shape.pcpus) == (3, 3)
    assert shape.cells[1].dedicated_cpus == {4, 5, 7}


def test_reserved_pages_of_a_missing_cell_or_size_are_named():
    policy = ShapePolicy(
        reserved_pages=(ReservedPages(7, 2 * MiB, 1), ReservedPages(0, GiB, 1)),
    )

    problems = host_shape(OFFLINE, (), policy, online_count=6).problems

    assert problems == (
        "[DEFAULT] reserved_huge_pages: NUMA cell 7 has no pages of 2048 KiB "
        "(cells: 0: 4/2048 KiB, 1: 4/2048 KiB)",
        "[DEFAULT] reserved_huge_pages: NUMA cell 0 has no pages of 1048576 KiB "
        "(cells: 0: 4/2048 KiB, 1: 4/2048 KiB)",
    )


def test_a_host_without_cells_counts_its_online_cpus():
    policy = ShapePolicy(dedicated_cpus=frozenset({2, 3}), shared_cpus=frozenset({0, 1}))

    shape = host_shape(HostTopology((), ()), (), policy, online_count=4)

    assert (shape.cells, shape.vcpus, shape.pcpus, shape.problems) == ((), 2, 2, ())
    assert host_shape(None, (), ShapePolicy(), online_count=4).vcpus == 4
    assert host_shape(None, (), policy, online_count=3).problems == (
        "[compute] cpu_dedicated_set: CPUs 3 are offline or absent (online: 0-2)",
    )
