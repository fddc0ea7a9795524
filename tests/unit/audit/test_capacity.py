"""What fits where: one row's answer per host, and shared storage counted once in the fleet."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from resource_tracker.audit.capacity import HostFit, fleet_fit, host_fits
from resource_tracker.audit.fitting.flavor import Flavor, request
from resource_tracker.cmd.capacity import size

ROW = dict(
    host="compute-1",
    hypervisor_hostname="compute-1",
    storage_id="local:compute-1",
    vcpus=16,
    vcpus_used=10,
    reserved_host_cpus=2,
    cpu_allocation_ratio=2.0,
    pcpus=None,
    pcpus_used=None,
    memory_mb=65536,
    memory_mb_used=20480,
    free_ram_mb=65536 - 20480,
    reserved_host_memory_mb=4096,
    ram_allocation_ratio=1.0,
    local_gb=1000,
    local_gb_used=400,
    disk_available_least=300,
    reserved_host_disk_mb=10 * 1024 + 1,  # 11 GB once rounded up
    disk_allocation_ratio=1.0,
    numa_topology=None,
    pci_stats=None,
    mdev_capacity=None,
)
FLAVOR = request(Flavor(vcpus=2, ram_mb=4096, root_gb=40))


def row(**changes):
    return SimpleNamespace(**(ROW | changes))


def fits(node, state="up", wanted=FLAVOR, rule="least") -> HostFit:
    (answer,) = host_fits(node, state, [wanted], rule)
    return answer


def test_each_resource_honours_its_reserve_and_ratio():
    cpus = fits(row(disk_available_least=10_000, local_gb=10_000), wanted=request(Flavor(2, 1)))
    ram = fits(row(disk_available_least=10_000, local_gb=10_000), wanted=request(Flavor(1, 4096)))
    disk = fits(row())

    # vcpus_used and memory_mb_used hold the reserve (as Nova's do): it is taken out once
    assert (cpus.fits, cpus.limited_by) == (((16 - 2) * 2 - (10 - 2)) // 2, "vCPUs (VCPU)")
    assert (ram.fits, ram.limited_by) == (
        (65536 - 4096 - (20480 - 4096)) // 4096,
        "RAM (MEMORY_MB)",
    )
    assert (disk.by_disk, disk.fits, disk.limited_by) == ((300 - 11) // 40, 7, "disk (DISK_GB)")


def test_disk_as_placement_counts_it_is_the_other_rule():
    answer = fits(row(), rule="placement")

    assert answer.by_disk == answer.by_disk_placement == ((1000 - 11) - (400 - 11)) // 40 == 15
    assert answer.by_disk_least == 7 and answer.fits == 10  # then the vCPUs run out


def test_a_disk_ratio_lends_room_on_top_of_disk_available_least():
    assert fits(row(disk_allocation_ratio=1.5)).by_disk == (300 + 500 - 11) // 40


def test_nothing_fits_on_a_host_that_is_down_or_full():
    down = fits(row(), state="down")
    full = fits(row(disk_available_least=-20))

    assert (down.fits, down.limited_by) == (0, "the tracker is down")
    assert (full.by_disk, full.fits) == (0, 0)


def test_a_flavor_without_disk_is_limited_by_cpu_and_ram_only():
    answer = fits(row(disk_available_least=-20), wanted=request(Flavor(2, 4096)))

    assert (answer.by_disk, answer.fits) == (None, 10)


def test_a_row_without_ratios_counts_them_as_1():
    answer = fits(row(cpu_allocation_ratio=None, disk_available_least=10_000, local_gb=10_000))

    assert answer.fits == (16 - 2 - (10 - 2)) // 2


def test_a_row_whose_json_does_not_read_takes_nothing():
    answer = fits(row(numa_topology="{not json"))

    assert answer.fits == 0 and "does not read" in answer.limited_by


def fit(host, storage_id, by_compute, by_disk, state="up") -> HostFit:
    fits = min(by_compute, by_disk) if state == "up" else 0
    without_disk = by_compute if state == "up" else 0
    return HostFit(
        host, host, state, storage_id, fits, "", False, without_disk, by_disk, by_disk, by_disk
    )


def test_hosts_on_one_storage_share_its_disk_once():
    fits = [
        fit("a", "nfs:fs1:/nova", 10, 6),
        fit("b", "nfs:fs1:/nova", 10, 5),  # reported later, after more disks grew
        fit("c", "nfs:fs1:/nova", 10, 0, state="down"),  # its disk room is not trusted
        fit("d", "local:d", 3, 50),
        fit("e", "local:e", 8, 2),
    ]

    assert sum(f.fits for f in fits) == 6 + 5 + 0 + 3 + 2  # hosts one by one: counted thrice
    assert fleet_fit(fits) == min(20, 5) + 3 + 2


def test_when_cpu_and_ram_run_out_first_the_shared_disk_does_not_matter():
    fits = [fit("a", "rbd:fsid/vms", 2, 100), fit("b", "rbd:fsid/vms", 3, 100)]

    assert fleet_fit(fits) == 5


@pytest.mark.parametrize(
    ("text", "default_unit", "expected"),
    [
        ("8G", 2**20, 8 * 2**30),
        ("8GiB", 2**20, 8 * 2**30),
        ("8gb", 2**20, 8 * 2**30),
        ("512M", 2**30, 512 * 2**20),
        ("1.5T", 2**30, int(1.5 * 2**40)),
        ("4096", 2**20, 4096 * 2**20),  # a bare number: Nova's flavor units (RAM MiB)
        ("80", 2**30, 80 * 2**30),  # (disk GiB)
    ],
)
def test_sizes(text, default_unit, expected):
    assert size(default_unit)(text) == expected


@pytest.mark.parametrize("text", ["", "G", "8X", "-1G", "eight"])
def test_what_is_not_a_size(text):
    with pytest.raises(ValueError):
        size(2**20)(text)
