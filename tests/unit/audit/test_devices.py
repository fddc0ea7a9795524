"""Device states, pools and mdev capacity from the inventory and the domains' hostdevs."""

from __future__ import annotations

import json

from resource_tracker.audit import device_spec, devices, nova_format
from resource_tracker.audit.devices import MdevCapacity, Pool
from resource_tracker.resources import HostDevices, HostDevUse, Mdev, MdevType, PciDevice

PF = PciDevice(
    "pci_0000_81_00_0",
    "0000:81:00.0",
    "8086",
    "10fb",
    "type-PF",
    class_id="0x020000",
    numa_node=1,
    iommu_group=40,
    vf_addrs=("0000:81:10.0", "0000:81:10.2", "0000:81:10.4"),
)


def vf(function: int, **changes) -> PciDevice:
    fields = {"class_id": "0x020000", "numa_node": 1, "iommu_group": 41 + function}
    return PciDevice(
        f"pci_0000_81_10_{function}",
        f"0000:81:10.{function}",
        "8086",
        "10ed",
        "type-VF",
        parent_addr="0000:81:00.0",
        **fields | changes,
    )


def nvme(bus: str, numa: int) -> PciDevice:
    return PciDevice(f"pci_0000_{bus}_00_0", f"0000:{bus}:00.0", "144d", "a808", "type-PCI",
                     numa_node=numa)  # fmt: skip


SATA = PciDevice("pci_0000_00_17_0", "0000:00:17.0", "8086", "a182", "type-PCI", numa_node=0)
GPU = PciDevice("pci_0000_3b_00_0", "0000:3b:00.0", "10de", "1eb8", "type-PCI", numa_node=0)
MDEV_UUIDS = (
    "4b20d080-1b54-4048-85b3-a6a62d165c01",
    "5c31e191-2c65-4159-96c4-b7b73e276d12",
    "6d42f2a2-3d76-426a-a7d5-c8c84f387e23",
)
HOST = HostDevices(
    pci=(SATA, GPU, nvme("5e", 0), nvme("5f", 0), PF, vf(0), vf(2), vf(4), nvme("d8", 1)),
    mdev_types=(MdevType("0000:3b:00.0", "nvidia-222", "GRID T4-4Q", "vfio-pci", 1),),
    mdevs=tuple(Mdev(uuid, "0000:3b:00.0", "nvidia-222") for uuid in MDEV_UUIDS),
)
SRIOV_VM = "a0000000-0000-4000-8000-000000000001"
OFF_VM = "a0000000-0000-4000-8000-000000000004"
USERS = (
    HostDevUse(SRIOV_VM, "vm-sriov", True, pci=("0000:5e:00.0", "0000:81:10.0")),
    HostDevUse("a0000000-0000-4000-8000-000000000002", "vm-gpu-1", True, mdevs=MDEV_UUIDS[:1]),
    HostDevUse("a0000000-0000-4000-8000-000000000003", "vm-gpu-2", True, mdevs=MDEV_UUIDS[1:2]),
    HostDevUse(OFF_VM, "vm-off", False, pci=("0000:81:10.4",)),
)
SPECS = device_spec.parse(
    [
        '{"vendor_id": "8086", "product_id": "10ed", "physical_network": "physnet1"}',
        '{"address": "0000:81:00.0", "resource_class": "CUSTOM_NIC", "traits": "A,B"}',
        '{"vendor_id": "144d", "product_id": "a808", "managed": "yes"}',
    ]
)


def states(users=USERS, host=HOST):
    return {s.device.address: s for s in devices.device_states(host, users, SPECS)}


def test_states_of_a_pf_with_a_vf_in_use():
    found = states()

    assert (found["0000:81:10.0"].status, found["0000:81:10.0"].instance_uuid) == (
        "allocated",
        SRIOV_VM,
    )
    assert found["0000:81:00.0"].status == "unavailable"  # a VF of it is in use
    assert found["0000:81:00.0"].instance_uuid is None
    assert found["0000:81:10.2"].status == "available"
    # named only by a shut-off domain: as Nova, a stopped instance keeps its allocation
    assert (found["0000:81:10.4"].status, found["0000:81:10.4"].instance_uuid) == (
        "allocated",
        OFF_VM,
    )
    assert found["0000:5e:00.0"].status == "allocated"


def test_vfs_are_unavailable_while_their_pf_is_in_use():
    users = (HostDevUse(SRIOV_VM, "vm", True, pci=("0000:81:00.0",)),)

    found = states(users)

    assert found["0000:81:00.0"].status == "allocated"
    assert {found[f"0000:81:10.{f}"].status for f in (0, 2, 4)} == {"unavailable"}


def test_a_shut_off_domains_pf_keeps_its_allocation_and_holds_its_vfs():
    users = (HostDevUse(OFF_VM, "off", False, pci=("0000:81:00.0",)),)

    found = states(users)

    assert (found["0000:81:00.0"].status, found["0000:81:00.0"].instance_uuid) == (
        "allocated",
        OFF_VM,
    )
    assert {found[f"0000:81:10.{f}"].status for f in (0, 2, 4)} == {"unavailable"}


def test_an_active_domain_wins_a_device_a_shut_off_one_also_names():
    users = (
        HostDevUse("00000000-0000-4000-8000-000000000000", "off", False, pci=("0000:5f:00.0",)),
        HostDevUse(SRIOV_VM, "on", True, pci=("0000:5f:00.0",)),
    )

    found = states(users)

    assert (found["0000:5f:00.0"].status, found["0000:5f:00.0"].instance_uuid) == (
        "allocated",
        SRIOV_VM,
    )


def test_a_vf_the_pf_lists_but_libvirt_could_not_describe_still_holds_the_pf():
    host = HostDevices(pci=(PF,))  # the VFs' own XML was unreadable
    users = (HostDevUse(SRIOV_VM, "vm", True, pci=("0000:81:10.2",)),)

    assert states(users, host)["0000:81:00.0"].status == "unavailable"


def test_offered_devices():
    found = states()

    offered = sorted(a for a, s in found.items() if s.spec is not None)
    assert offered == [
        "0000:5e:00.0",
        "0000:5f:00.0",
        "0000:81:00.0",
        "0000:81:10.0",
        "0000:81:10.2",
        "0000:81:10.4",
        "0000:d8:00.0",
    ]
    assert found["0000:00:17.0"].spec is None  # the SATA controller: no spec names it


def test_pools_hold_the_free_offered_devices_per_numa_node_and_pf():
    pools = devices.pools(tuple(states().values()))

    def nvme_tags(address):
        return (("address", address), ("dev_type", "type-PCI"), ("managed", "true"))

    assert pools == (
        Pool("144d", "a808", 0, nvme_tags("0000:5f:00.0"), 1),
        Pool("144d", "a808", 1, nvme_tags("0000:d8:00.0"), 1),
        Pool(
            "8086",
            "10ed",
            1,
            (
                ("address", "0000:81:00.0"),
                ("dev_type", "type-VF"),
                ("physical_network", "physnet1"),
                ("remote_managed", "false"),
            ),
            1,  # 10.0 and (by a shut-off domain) 10.4 allocated: 10.2 is free
        ),
    )


def test_a_free_pf_pool_leaves_out_placement_tags():
    pools = devices.pools(tuple(states(users=()).values()))

    (pf_pool,) = [pool for pool in pools if pool.product_id == "10fb"]
    assert dict(pf_pool.tags) == {
        "address": "0000:81:00.0",
        "dev_type": "type-PF",
        "remote_managed": "false",
    }
    vf_pool = [pool for pool in pools if pool.product_id == "10ed"]
    assert [pool.count for pool in vf_pool] == [3]


def test_vgpu_type_with_2_of_4_used_and_an_orphan():
    (capacity,) = devices.mdev_capacity(HOST, USERS)

    assert capacity == MdevCapacity(
        parent="0000:3b:00.0",
        type_id="nvidia-222",
        name="GRID T4-4Q",
        device_api="vfio-pci",
        available_instances=1,
        existing=3,
        used=2,
        orphaned=(MDEV_UUIDS[2],),
    )
    assert capacity.free == 2  # one more can be made, one orphan can be taken


def test_an_mdev_a_shut_off_domain_names_is_neither_used_nor_orphaned():
    users = (*USERS, HostDevUse(OFF_VM, "vm-off", False, mdevs=MDEV_UUIDS[2:]))

    (capacity,) = devices.mdev_capacity(HOST, users)

    assert (capacity.used, capacity.orphaned, capacity.free) == (2, (), 1)


def test_mdevs_of_a_type_no_longer_listed_count_nothing_more():
    host = HostDevices(mdevs=HOST.mdevs)

    (capacity,) = devices.mdev_capacity(host, USERS)

    assert (capacity.name, capacity.available_instances, capacity.existing) == (None, 0, 3)
    assert capacity.free == 1


def test_pci_stats_and_mdev_columns_are_deterministic():
    pools = devices.pools(tuple(states().values()))
    reordered = devices.pools(tuple(reversed(tuple(states().values()))))

    assert nova_format.pci_stats(pools) == nova_format.pci_stats(reordered)
    stats = json.loads(nova_format.pci_stats(pools))
    assert stats["nova_object.name"] == "PciDevicePoolList"
    first = stats["nova_object.data"]["objects"][0]["nova_object.data"]
    assert first == {
        "count": 1,
        "numa_node": 0,
        "product_id": "a808",
        "tags": {"address": "0000:5f:00.0", "dev_type": "type-PCI", "managed": "true"},
        "vendor_id": "144d",
    }
    mdevs = json.loads(nova_format.mdev_capacity(devices.mdev_capacity(HOST, USERS)))
    assert mdevs == [
        {
            "parent": "0000:3b:00.0",
            "type": "nvidia-222",
            "name": "GRID T4-4Q",
            "device_api": "vfio-pci",
            "available_instances": 1,
            "existing": 3,
            "used": 2,
            "orphaned": [MDEV_UUIDS[2]],
            "free": 2,
        }
    ]


def test_pci_device_row_values():
    found = states()

    values = nova_format.pci_device_values(found["0000:81:10.0"])
    nvme_values = nova_format.pci_device_values(found["0000:5e:00.0"])

    assert (values.dev_id, values.label, values.status) == (
        "pci_0000_81_10_0",
        "label_8086_10ed",
        "allocated",
    )
    assert (values.instance_uuid, values.parent_addr, values.numa_node) == (
        SRIOV_VM,
        "0000:81:00.0",
        1,
    )
    assert json.loads(values.extra_info) == {"class": "0x020000", "iommu_group": "41"}
    assert json.loads(nvme_values.extra_info) == {"managed": "true"}  # as Nova copies it


def test_the_pci_stats_and_mdev_columns_read_back_into_their_records():
    pools = devices.pools(tuple(states().values()))
    capacity = devices.mdev_capacity(HOST, USERS)

    read_pools = nova_format.read_pci_stats(json.loads(nova_format.pci_stats(pools)))
    read_mdevs = nova_format.read_mdev_capacity(json.loads(nova_format.mdev_capacity(capacity)))

    assert (read_pools, read_mdevs) == (pools, capacity)
    assert (nova_format.read_pci_stats(None), nova_format.read_mdev_capacity(None)) == ((), ())
