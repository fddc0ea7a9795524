"""What fits where: placement's arithmetic on one row, and shared storage counted once."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from resource_tracker.audit.capacity import Flavor, HostFit, fleet_fit, host_fit
from resource_tracker.cmd.capacity import size

ROW = dict(
    host="compute-1",
    hypervisor_hostname="compute-1",
    storage_id="local:compute-1",
    vcpus=16,
    vcpus_used=10,
    reserved_host_cpus=2,
    cpu_allocation_ratio=2.0,
    memory_mb=65536,
    memory_mb_used=20480,
    reserved_host_memory_mb=4096,
    ram_allocation_ratio=1.0,
    local_gb=1000,
    disk_available_least=300,
    reserved_host_disk_mb=10 * 1024 + 1,  # 11 GB once rounded up
    disk_allocation_ratio=1.0,
)
FLAVOR = Flavor(vcpus=2, ram_mb=4096, disk_gb=40)


def row(**changes):
    return SimpleNamespace(**(ROW | changes))


def test_each_resource_honours_its_reserve_and_ratio():
    fit = host_fit(row(), "up", FLAVOR)

    # vcpus_used and memory_mb_used hold the reserve (as Nova's do): it is taken out once
    assert fit.by_vcpus == ((16 - 2) * 2 - (10 - 2)) // 2 == 10
    assert fit.by_ram == (65536 - 4096 - (20480 - 4096)) // 4096 == 11
    assert fit.by_disk == (300 - 11) // 40 == 7
    assert fit.fits == 7


def test_a_disk_ratio_lends_room_on_top_of_disk_available_least():
    # Nova's DiskFilter: local_gb * ratio - (local_gb - disk_available_least)
    assert host_fit(row(disk_allocation_ratio=1.5), "up", FLAVOR).by_disk == (
        (300 + 500 - 11) // 40
    )


def test_nothing_fits_on_a_host_that_is_down_or_full():
    assert host_fit(row(), "down", FLAVOR).fits == 0
    full = host_fit(row(disk_available_least=-20), "up", FLAVOR)
    assert (full.by_disk, full.fits) == (0, 0)


def test_a_flavor_without_disk_is_limited_by_cpu_and_ram_only():
    fit = host_fit(row(disk_available_least=-20), "up", Flavor(2, 4096, 0))

    assert (fit.by_disk, fit.fits) == (None, 10)


def test_a_row_without_ratios_counts_them_as_1():
    fit = host_fit(row(cpu_allocation_ratio=None, ram_allocation_ratio=None), "up", FLAVOR)

    assert (fit.by_vcpus, fit.by_ram) == ((16 - 2 - (10 - 2)) // 2, 11)


def fit(host, storage_id, by_compute, by_disk, state="up") -> HostFit:
    return HostFit(host, host, state, storage_id, by_compute, by_compute, by_disk)


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
