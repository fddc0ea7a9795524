"""How many more guests fit on one host row, and what runs out first."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resource_tracker.audit import nova_format
from resource_tracker.audit.devices import Pool
from resource_tracker.audit.fitting import host
from resource_tracker.audit.fitting.count import how_many, how_many_by_placing
from resource_tracker.audit.fitting.flavor import Flavor, parse_aliases, request
from resource_tracker.audit.shape import CellUsage, PageUsage
from resource_tracker.units import KiB, MiB

NIC = '{"name": "nic", "vendor_id": "8086", "product_id": "154d"}'


def cell(id, shared=(), dedicated=(), threads=1, small_mb=8192, huge=(), **use) -> CellUsage:
    """A cell whose CPUs are cores of `threads` siblings; huge: (size KiB, total, used)."""
    cpus = sorted({*shared, *dedicated})
    cores = [frozenset(cpus[i : i + threads]) for i in range(0, len(cpus), threads)]
    pages = [PageUsage(4 * KiB, small_mb * 256, use.pop("small_used_mb", 0) * 256, 0, None)]
    pages += [PageUsage(size * KiB, total, used, 0, None) for size, total, used in huge]
    return CellUsage(
        id=id,
        socket=id,
        shared_cpus=frozenset(shared),
        dedicated_cpus=frozenset(dedicated),
        siblings=tuple(cores),
        memory_bytes=small_mb * MiB + sum(size * KiB * total for size, total, _ in huge),
        vcpus_used=use.pop("cpu_usage", 0),
        pinned_cpus=frozenset(use.pop("pinned", ())),
        memory_used_bytes=use.pop("memory_used_mb", 0) * MiB,
        pages=tuple(pages),
    )


def row(cells=(), pools=(), **columns) -> SimpleNamespace:
    values = dict(
        vcpus=16, vcpus_used=0, reserved_host_cpus=0, cpu_allocation_ratio=64.0, pcpus=None,
        pcpus_used=None, memory_mb=65536, memory_mb_used=0, free_ram_mb=65536,
        reserved_host_memory_mb=0, ram_allocation_ratio=1.0, local_gb=1000, local_gb_used=0,
        disk_available_least=1000, reserved_host_disk_mb=0, disk_allocation_ratio=1.0,
        numa_topology=nova_format.numa_topology(cells), pci_stats=nova_format.pci_stats(pools),
        mdev_capacity=None,
    )  # fmt: skip
    return SimpleNamespace(**(values | columns))


def fits(node, vcpus=1, ram_mb=1024, disk_gb=0, aliases=(), disk_rule="least", **specs):
    wanted = Flavor(vcpus, ram_mb, root_gb=disk_gb, extra_specs=tuple(specs.items()))
    return how_many(host.read(node, disk_rule), request(wanted, parse_aliases(aliases)))


# The README's host: 64 GiB, a 16 GiB pool of 1 GiB pages of which a guest uses 8, a 4 GiB
# guest on ordinary pages, a reserve of 512 MiB: free_ram_mb 44544.
README_HOST = row(
    [cell(0, shared=range(16), small_mb=49152, huge=[(1048576, 16, 8)], memory_used_mb=12288)],
    memory_mb_used=512 + 12288,
    free_ram_mb=44544,
    reserved_host_memory_mb=512,
    cpu_allocation_ratio=16.0,
)


def test_ordinary_guests_fit_in_free_ram_mb_not_in_the_unused_huge_pages():
    answer = fits(README_HOST, ram_mb=1024)

    assert answer.fits == 44544 // 1024 == 43
    assert answer.limited_by == "RAM outside huge page pools (free_ram_mb)"


def test_huge_page_guests_take_the_pool_and_name_it_when_it_runs_out():
    answer = fits(README_HOST, ram_mb=1024, **{"hw:mem_page_size": "1GB"})

    assert (answer.fits, answer.limited_by) == (8, "cell 0 huge pages (1G)")


def test_placements_arithmetic_for_vcpus_and_ram_with_reserves_and_ratios():
    node = row(
        vcpus=16, vcpus_used=10, reserved_host_cpus=2, cpu_allocation_ratio=2.0,
        memory_mb=65536, memory_mb_used=20480, free_ram_mb=45056,
        reserved_host_memory_mb=4096, ram_allocation_ratio=1.5,
    )  # fmt: skip

    assert fits(node, vcpus=2, ram_mb=512).fits == ((16 - 2) * 2 - (10 - 2)) // 2 == 10
    by_ram = fits(node, vcpus=1, ram_mb=4096)
    room = (65536 - 4096) * 1.5 - (20480 - 4096)
    assert (by_ram.fits, by_ram.limited_by) == (room // 4096, "RAM (MEMORY_MB)")


def test_with_ratio_1_ordinary_guests_agree_with_free_ram_mb():
    node = row(memory_mb=32768, memory_mb_used=9000, free_ram_mb=32768 - 9000)

    assert fits(node, ram_mb=100).fits == (32768 - 9000) // 100


@pytest.mark.parametrize(
    ("rule", "expected"),
    [("least", (300 - 11) // 40), ("placement", ((1000 - 11) - (11 + 20 - 11)) // 40)],
)
def test_disk_by_disk_available_least_or_as_placement_counts_it(rule, expected):
    node = row(
        local_gb=1000, local_gb_used=11 + 20, disk_available_least=300,
        reserved_host_disk_mb=10 * 1024 + 1,
    )  # fmt: skip

    answer = fits(node, disk_gb=40, disk_rule=rule)

    assert answer.fits == expected and answer.limited_by == "disk (DISK_GB)"


def test_dedicated_cpus_come_from_pcpus_and_each_cell():
    cells = [cell(0, shared=range(4), dedicated=range(4, 9)), cell(1, dedicated=range(9, 14))]
    node = row(cells, vcpus=4, pcpus=10, pcpus_used=0)

    answer = fits(node, vcpus=3, ram_mb=512, **{"hw:cpu_policy": "dedicated"})

    assert answer.fits == 2  # one guest per cell, 5 dedicated CPUs in each: 4 PCPU left
    assert answer.limited_by == "cell 0 dedicated CPUs; cell 1 dedicated CPUs"


def test_emulator_threads_isolate_takes_one_more_pcpu():
    node = row([cell(0, dedicated=range(8))], vcpus=1, pcpus=8, pcpus_used=0)

    plain = fits(node, vcpus=2, ram_mb=512, **{"hw:cpu_policy": "dedicated"})
    isolated = fits(
        node, vcpus=2, ram_mb=512,
        **{"hw:cpu_policy": "dedicated", "hw:emulator_threads_policy": "isolate"},
    )  # fmt: skip

    assert (plain.fits, isolated.fits) == (4, 2)
    assert isolated.limited_by == "dedicated CPUs (PCPU)"


def test_isolate_threads_take_whole_cores_on_a_legacy_host():
    cpus = range(8)  # 4 cores of 2 threads; no CPU sets: pcpuset == cpuset
    node = row([cell(0, shared=cpus, dedicated=cpus, threads=2)], vcpus=8)

    answer = fits(
        node,
        vcpus=1,
        ram_mb=512,
        **{"hw:cpu_policy": "dedicated", "hw:cpu_thread_policy": "isolate"},
    )

    assert answer.fits == 4


def test_a_flavor_that_can_never_fit_says_why():
    node = row([cell(0, shared=range(8))])

    answer = fits(node, vcpus=2, ram_mb=1024, **{"hw:numa_nodes": "2"})

    assert (answer.fits, answer.never) == (0, True)
    assert answer.limited_by == "needs 2 NUMA nodes; host has 1"
    no_pages = fits(node, **{"hw:mem_page_size": "1GB"})
    assert no_pages.never and no_pages.limited_by == "cell 0 has no 1G pages"
    too_big = fits(row(vcpus=4, cpu_allocation_ratio=16.0), vcpus=8)
    assert too_big.never and too_big.limited_by == "vCPUs (VCPU): needs 8; host has 4 (max_unit)"


def test_pci_devices_near_the_guest_by_the_alias_policy():
    cells = [cell(0, shared=range(4)), cell(1, shared=range(4, 8))]
    pools = [Pool("8086", "154d", 1, (("dev_type", "type-PCI"),), 3)]
    node = row(cells, pools, cpu_allocation_ratio=4.0)

    required = fits(
        node, ram_mb=512, aliases=[NIC], **{"pci_passthrough:alias": "nic:1", "hw:numa_nodes": "1",
        "hw:pci_numa_affinity_policy": "required"},
    )  # fmt: skip
    no_numa = fits(node, ram_mb=512, aliases=[NIC], **{"pci_passthrough:alias": "nic:2"})

    assert (required.fits, no_numa.fits) == (3, 1)
    assert "PCI devices" in required.limited_by
    assert no_numa.limited_by == "PCI devices (nic:2)"


def test_vgpus_per_parent_device():
    mdevs = '[{"parent": "p1", "type": "t", "name": null, "device_api": null, '
    mdevs += '"available_instances": 3, "existing": 0, "used": 0, "orphaned": [], "free": 3}]'
    node = row(mdev_capacity=mdevs)

    assert fits(node, **{"resources:VGPU": "1"}).fits == 3
    assert fits(node, **{"resources:VGPU": "2"}).fits == 1


def test_a_dedicated_flavor_on_a_host_without_cpu_sets_takes_vcpus():
    # legacy: no PCPU inventory; Nova's fallback query asks VCPU for every vCPU
    cpus = range(8)
    node = row([cell(0, shared=cpus, dedicated=cpus)], vcpus=8, cpu_allocation_ratio=16.0)

    answer = fits(node, vcpus=2, ram_mb=512, **{"hw:cpu_policy": "dedicated"})

    assert answer.fits == 4 and answer.limited_by == "cell 0 dedicated CPUs"


@settings(max_examples=300, derandomize=True, deadline=None)
@given(
    st.integers(1, 64), st.integers(0, 80), st.floats(0.5, 16), st.integers(1024, 10**6),
    st.integers(0, 10**6), st.integers(0, 4096), st.integers(0, 2000), st.integers(-50, 2000),
    st.lists(st.integers(0, 9), max_size=3), st.integers(1, 8), st.integers(1, 65536),
    st.integers(0, 200), st.integers(0, 2),
)  # fmt: skip
def test_guests_without_cells_or_devices_are_counted_at_once_as_one_by_one(
    vcpus, vcpus_used, cpu_ratio, memory_mb, memory_used, unused_pools, local_gb, least,
    vgpus, flavor_vcpus, ram_mb, disk_gb, vgpu,
):  # fmt: skip
    mdevs = json.dumps([
        {"parent": f"p{n}", "type": "t", "name": None, "device_api": None,
         "available_instances": free, "existing": 0, "used": 0, "orphaned": []}
        for n, free in enumerate(vgpus)
    ])  # fmt: skip
    node = row(
        vcpus=vcpus, vcpus_used=vcpus_used, cpu_allocation_ratio=cpu_ratio, memory_mb=memory_mb,
        memory_mb_used=memory_used, free_ram_mb=memory_mb - memory_used - unused_pools,
        local_gb=local_gb, disk_available_least=least, mdev_capacity=mdevs,
    )  # fmt: skip
    specs = (("resources:VGPU", str(vgpu)),) if vgpu else ()
    wanted = request(Flavor(flavor_vcpus, ram_mb, root_gb=disk_gb, extra_specs=specs))

    at_once = how_many(host.read(node), wanted)
    one_by_one = how_many_by_placing(host.read(node), wanted)

    assert at_once == one_by_one


def test_a_pf_is_taken_only_by_an_alias_that_asks_for_one():
    pools = [Pool("8086", "1572", None, (("dev_type", "type-PF"),), 2)]
    node = row([cell(0, shared=range(8))], pools)
    pf = '{"name": "pf", "vendor_id": "8086", "product_id": "1572", "device_type": "type-PF"}'
    any_kind = '{"name": "pf", "vendor_id": "8086", "product_id": "1572"}'

    asked = fits(node, ram_mb=512, aliases=[pf], **{"pci_passthrough:alias": "pf:1"})
    not_asked = fits(node, ram_mb=512, aliases=[any_kind], **{"pci_passthrough:alias": "pf:1"})

    assert (asked.fits, not_asked.fits) == (2, 0)
