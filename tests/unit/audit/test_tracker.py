"""Unit conversion and derived columns: bytes in, the table's MB/GB columns out."""

from __future__ import annotations

import dataclasses
import json

from resource_tracker.audit import device_spec, nova_format
from resource_tracker.audit.devices import device_use
from resource_tracker.audit.tracker import HostPolicy, compute_node_values
from resource_tracker.resources import (
    CpuInfo,
    CpuTopology,
    DiskUsage,
    HostDevices,
    HostDevUse,
    HostResources,
    LocalStorage,
    MdevType,
    PciDevice,
)

MiB = 2**20
GiB = 2**30

RESOURCES = HostResources(
    hypervisor_hostname="node-1",
    hypervisor_type="QEMU",
    hypervisor_version=8002000,
    cpu_info=CpuInfo("x86_64", "Icelake", "Intel", CpuTopology(2, 16, 2, 2), ("avx2", "vmx")),
    vcpus=64,
    vcpus_used=20,
    memory_total_bytes=256 * GiB - 1,  # one byte short of 262144 MiB
    memory_used_bytes=40 * GiB + MiB - 1,
    running_vms=5,
    busy_vms=1,
    storage=LocalStorage(total_bytes=1000 * GiB - 1, free_bytes=700 * GiB, used_bytes=300 * GiB),
    disks=(
        DiskUsage("a", "vda", "/i/a", "qcow2", 50 * GiB, 10 * GiB, 40 * GiB),
        DiskUsage("b", "vda", "/i/b", "raw", 20 * GiB, 5 * GiB + 1, 15 * GiB - 1),
    ),
    vcpus_held=24,  # a shut-off domain of 4 vCPUs and 4 GiB holds them too
    memory_held_bytes=44 * GiB + MiB - 1,
    domain_states=(("paused", 1), ("running", 4), ("shutoff", 1)),
)


def test_mb_and_gb_columns_are_floored_bytes():
    values = compute_node_values(RESOURCES, HostPolicy(reserved_host_memory_mb=0))

    assert values.memory_mb == 262143
    assert values.memory_mb_used == 44 * 1024  # every domain's, the shut-off one's too
    assert values.local_gb == 999
    assert values.local_gb_used == 300


def test_memory_used_holds_the_reserve_and_free_ram_is_the_rest_as_in_nova():
    values = compute_node_values(RESOURCES, HostPolicy(reserved_host_memory_mb=2048))

    assert values.memory_mb_used == 2048 + 44 * 1024
    assert values.free_ram_mb == 262143 - values.memory_mb_used


def test_disk_used_holds_the_reserve_rounded_up_to_whole_gb():
    assert compute_node_values(RESOURCES, HostPolicy()).free_disk_gb == 999 - 300
    values = compute_node_values(RESOURCES, HostPolicy(reserved_host_disk_mb=1025))
    assert values.local_gb_used == 300 + 2
    assert values.free_disk_gb == 999 - 300 - 2


def test_disk_available_least_is_free_minus_overcommit_floored():
    values = compute_node_values(RESOURCES, HostPolicy())

    # 700 GiB free - (40 GiB + 15 GiB - 1 byte) = 645 GiB + 1 byte
    assert values.disk_available_least == 645


def test_disk_available_least_may_be_negative_and_floors_down():
    overcommitted = dataclasses.replace(
        RESOURCES, disks=(DiskUsage("a", "vda", "/i/a", "qcow2", 800 * GiB, 0, 700 * GiB + 1),)
    )

    assert compute_node_values(overcommitted, HostPolicy()).disk_available_least == -1


def test_counts_and_policy_are_stored_with_the_row():
    policy = HostPolicy(
        reserved_host_cpus=2,
        cpu_allocation_ratio=16.0,
        ram_allocation_ratio=1.5,
        disk_allocation_ratio=1.1,
    )

    values = compute_node_values(RESOURCES, policy)

    # as Nova 34's tracker: the reserve and every domain's vCPUs, every domain a VM
    assert (values.vcpus, values.vcpus_used, values.running_vms) == (64, 2 + 24, 6)
    assert json.loads(values.stats)["num_vm_active"] == 4  # the running ones, paused aside
    assert values.current_workload == 1
    assert (values.reserved_host_cpus, values.cpu_allocation_ratio) == (2, 16.0)
    assert (values.ram_allocation_ratio, values.disk_allocation_ratio) == (1.5, 1.1)


def test_cpu_info_is_stable_json():
    cpu_info = json.loads(compute_node_values(RESOURCES, HostPolicy()).cpu_info)

    assert cpu_info == {
        "arch": "x86_64",
        "model": "Icelake",
        "vendor": "Intel",
        "topology": {"sockets": 2, "cores": 16, "threads": 2, "cells": 2},
        "features": ["avx2", "vmx"],
    }


def test_device_columns_come_from_the_devices_the_driver_reports():
    nic = PciDevice("pci_0000_81_10_2", "0000:81:10.2", "8086", "10ed", "type-VF", numa_node=1,
                    parent_addr="0000:81:00.0")  # fmt: skip
    gpu_type = MdevType("0000:3b:00.0", "nvidia-222", "GRID T4-4Q", "vfio-pci", 4)
    resources = dataclasses.replace(
        RESOURCES,
        devices=HostDevices(pci=(nic,), mdev_types=(gpu_type,)),
        device_users=(HostDevUse("a0000000-0000-4000-8000-000000000001", "vm", False),),
    )
    use = device_use(resources, device_spec.parse(['{"vendor_id": "8086"}']))

    values = compute_node_values(resources, HostPolicy(), use=use)

    (pool,) = json.loads(values.pci_stats)["nova_object.data"]["objects"]
    assert (pool["nova_object.data"]["count"], pool["nova_object.data"]["numa_node"]) == (1, 1)
    assert [m["free"] for m in json.loads(values.mdev_capacity)] == [4]
    assert [s.device.address for s in use.offered] == ["0000:81:10.2"]


def test_no_devices_reported_leaves_the_device_columns_unknown():
    assert device_use(RESOURCES, ()) is None
    values = compute_node_values(RESOURCES, HostPolicy())
    assert (values.pci_stats, values.mdev_capacity) == (None, None)


def test_cpu_info_json_is_built_once_for_the_same_record_and_again_for_another():
    compute_node_values(RESOURCES, HostPolicy())
    builds = nova_format.CPU_INFO.builds

    again = [compute_node_values(RESOURCES, HostPolicy()).cpu_info for _ in range(3)]
    same_builds = nova_format.CPU_INFO.builds
    other = dataclasses.replace(RESOURCES.cpu_info, model="Skylake")
    changed = compute_node_values(dataclasses.replace(RESOURCES, cpu_info=other), HostPolicy())

    assert same_builds == builds
    assert nova_format.CPU_INFO.builds == builds + 1
    assert len(set(again)) == 1 and json.loads(changed.cpu_info)["model"] == "Skylake"
