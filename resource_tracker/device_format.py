"""The device columns: pci_devices rows and pci_stats in Nova's formats, mdev_capacity in ours.

- pci_devices: Nova's columns; label `label_<vendor>_<product>` and dev_id (libvirt's node
  device name) as Nova's libvirt driver sets them; extra_info a JSON object of strings, as
  Nova's PciDevice.extra_info: `class` and `iommu_group` when known, `capabilities` with
  the VPD card serial number when there is one, and the offering spec's `managed` and
  `live_migratable` tags, as Nova copies them.
- pci_stats: a `PciDevicePoolList` 1.1 primitive of `PciDevicePool` 1.1 objects (vendor_id,
  product_id, numa_node, tags, count), as Nova's ComputeNode writes it (with the
  `nova_object.changes` its obj_to_primitive() adds, as nova_format.py writes every
  primitive); Nova's `pci_device_pool.from_pci_stats` loads it.
- mdev_capacity: a list, one object per parent device and mdev type (see README).

Keys are sorted and lists ordered, so equal inputs give equal strings: write-on-change holds.
"""

from __future__ import annotations

from collections.abc import Sequence

from resource_tracker.devices import DeviceState, MdevCapacity, Pool
from resource_tracker.nova_format import dumps, nova_object
from resource_tracker.resources import PciDeviceValues

POOL_LIST_VERSION = "1.1"
POOL_VERSION = "1.1"
_SPEC_TAGS_IN_EXTRA_INFO = ("managed", "live_migratable")


def pci_device_values(state: DeviceState) -> PciDeviceValues:
    device = state.device
    extra = {}
    if device.class_id is not None:
        extra["class"] = device.class_id
    if device.iommu_group is not None:
        extra["iommu_group"] = str(device.iommu_group)
    if device.card_serial_number:
        vpd = {"vpd": {"card_serial_number": device.card_serial_number}}
        extra["capabilities"] = dumps(vpd)
    tags = dict(state.spec.tags) if state.spec is not None else {}
    extra.update({key: tags[key] for key in _SPEC_TAGS_IN_EXTRA_INFO if tags.get(key)})
    return PciDeviceValues(
        address=device.address,
        vendor_id=device.vendor_id,
        product_id=device.product_id,
        dev_type=device.dev_type,
        dev_id=device.name,
        label=f"label_{device.vendor_id}_{device.product_id}",
        status=state.status,
        instance_uuid=state.instance_uuid,
        numa_node=device.numa_node,
        parent_addr=device.parent_addr,
        extra_info=dumps(extra),
    )


def pci_stats(pools: Sequence[Pool]) -> str:
    objects = [
        nova_object(
            "PciDevicePool",
            POOL_VERSION,
            {
                "vendor_id": pool.vendor_id,
                "product_id": pool.product_id,
                "numa_node": pool.numa_node,
                "tags": dict(pool.tags),
                "count": pool.count,
            },
        )
        for pool in pools
    ]
    return dumps(nova_object("PciDevicePoolList", POOL_LIST_VERSION, {"objects": objects}))


def mdev_capacity(capacity: Sequence[MdevCapacity]) -> str:
    return dumps(
        [
            {
                "parent": entry.parent,
                "type": entry.type_id,
                "name": entry.name,
                "device_api": entry.device_api,
                "available_instances": entry.available_instances,
                "existing": entry.existing,
                "used": entry.used,
                "orphaned": list(entry.orphaned),
                "free": entry.free,
            }
            for entry in capacity
        ]
    )
