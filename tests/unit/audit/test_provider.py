"""The root provider's inventories as Nova 34 computes them from the row's values."""

import dataclasses

from resource_tracker.audit.provider import inventories
from resource_tracker.resources import ComputeNodeValues

ROW = ComputeNodeValues(
    hypervisor_hostname="h", hypervisor_type="QEMU", hypervisor_version=1, cpu_info="{}",
    vcpus=8, vcpus_used=0, memory_mb=16384, memory_mb_used=0, local_gb=100, local_gb_used=0,
    free_ram_mb=0, free_disk_gb=0, disk_available_least=0, current_workload=0, running_vms=0,
    reserved_host_memory_mb=512, reserved_host_disk_mb=1025, reserved_host_cpus=2,
    cpu_allocation_ratio=4.0, ram_allocation_ratio=1.5, disk_allocation_ratio=1.0, pcpus=0,
)  # fmt: skip


def by_class(values):
    return {each.resource_class: each for each in inventories(values)}


def test_classes_reserves_and_units():
    found = by_class(ROW)
    assert set(found) == {"VCPU", "MEMORY_MB", "DISK_GB"}  # PCPU total 0: left out
    assert (found["VCPU"].reserved, found["VCPU"].max_unit) == (2, 8)
    assert found["MEMORY_MB"].allocation_ratio == 1.5
    assert found["DISK_GB"].reserved == 2  # 1025 MB: whole GB, rounded up


def test_dedicated_cpus_and_a_reserve_above_the_total():
    found = by_class(dataclasses.replace(ROW, pcpus=4, local_gb=1))
    assert (found["PCPU"].total, found["PCPU"].allocation_ratio, found["PCPU"].reserved) == (
        4,
        1.0,
        0,
    )
    assert found["DISK_GB"].reserved == 1  # cut to the total: Placement refuses more
