"""The JSON columns in the formats Nova's objects read, serialized deterministically.

- numa_topology: a versioned primitive of `NUMATopology` 1.2 holding `NUMACell` 1.5 (cpuset,
  pcpuset, siblings, memory and memory_usage in MiB, cpu_usage, pinned_cpus, mempages,
  network_metadata, socket) and `NUMAPagesTopology` 1.1 (size_kb, total, used, reserved), as
  Nova master writes it (`NUMATopology._to_json()`); `objects.NUMATopology.obj_from_db_obj`
  loads it. NULL where libvirt reports no cells, as Nova stores it then. network_metadata
  is `NetworkMetadata` 1.0 (physnets, tunneled), from [neutron] physnets and
  [neutron_physnet_<name>] / [neutron_tunnel] numa_nodes (audit/networks.py).
- supported_instances: `[[arch, hypervisor_type, vm_mode], ...]` from the capabilities'
  guests, canonicalized as Nova's fields do; kinds Nova does not know are left out.
- stats: the counts Nova's filters read (`num_instances`, `num_vm_<vm_state>`,
  `io_workload`), and from the domains' Nova metadata `num_proj_<project_id>` and
  `num_os_type_<os_type>`; ints (Nova's ComputeNode turns them into strings when it loads
  them). `num_task_<task_state>` is Nova's database's to know, so it is left out.
- pci_devices: Nova's columns; label `label_<vendor>_<product>` and dev_id (libvirt's node
  device name) as Nova's libvirt driver sets them; extra_info a JSON object of strings, as
  Nova's PciDevice.extra_info: `class` and `iommu_group` when known, `capabilities` (a VF's
  `network` features and `sriov` pf_mac_address and vf_num, the VPD card serial number)
  when there are any, a VF's `parent_ifname`, a PF's `mac_address`, and the offering
  spec's `managed` and `live_migratable` tags, as Nova copies them.
- pci_stats: a `PciDevicePoolList` 1.1 primitive of `PciDevicePool` 1.1 objects (vendor_id,
  product_id, numa_node, tags, count), as Nova's ComputeNode writes it (with the
  `nova_object.changes` its obj_to_primitive() adds); Nova's
  `pci_device_pool.from_pci_stats` loads it.
- mdev_capacity (ours, not Nova's): a list, one object per parent device and mdev type.
- metrics: '[]', what Nova's ResourceTracker writes (`jsonutils.dumps` of an empty
  MonitorMetricList.to_list()) when no `compute_monitors` are enabled, its default.

Sets are sorted lists; keys are sorted; equal inputs give equal strings, so write-on-change
holds. The `read_*` functions at the end turn what we wrote (parsed JSON) back into the
records it was made from, for the CLI that shows it: the reading beside the writing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from resource_tracker.audit.devices import DeviceState, MdevCapacity, Pool
from resource_tracker.audit.networks import CellNetworks
from resource_tracker.audit.shape import CellUsage, PageUsage
from resource_tracker.resources import (
    TYPE_VF,
    CpuInfo,
    GuestType,
    NovaDomain,
    PciDevice,
    PciDeviceValues,
)
from resource_tracker.units import KiB, MiB

NUMA_TOPOLOGY_VERSION = "1.2"
NUMA_CELL_VERSION = "1.5"
NUMA_PAGES_VERSION = "1.1"
NETWORK_METADATA_VERSION = "1.0"
POOL_LIST_VERSION = "1.1"
POOL_VERSION = "1.1"
NO_METRICS = "[]"
_SPEC_TAGS_IN_EXTRA_INFO = ("managed", "live_migratable")

# nova.objects.fields: Architecture.ALL, HVType.ALL, VMMode.ALL and their canonicalize()
ARCHITECTURES = frozenset((
    "alpha", "armv6", "armv7l", "armv7b", "aarch64", "cris", "i686", "ia64", "lm32", "m68k",
    "microblaze", "microblazeel", "mips", "mipsel", "mips64", "mips64el", "openrisc", "parisc",
    "parisc64", "ppc", "ppcle", "ppc64", "ppc64le", "ppcemb", "s390", "s390x", "sh4", "sh4eb",
    "sparc", "sparc64", "unicore32", "x86_64", "xtensa", "xtensaeb",
))  # fmt: skip
ARCHITECTURE_ALIASES = {
    "i386": "i686", "i486": "i686", "i586": "i686", "x86_32": "i686", "x86_32p": "i686",
    "amd64": "x86_64",
}  # fmt: skip
HYPERVISOR_TYPES = frozenset((
    "baremetal", "bhyve", "docker", "fake", "hyperv", "ironic", "kqemu", "kvm", "lxc", "lxd",
    "openvz", "parallels", "phyp", "qemu", "test", "uml", "vbox", "vz", "vmware", "xen", "zvm",
    "prsm",
))  # fmt: skip
VM_MODES = frozenset({"hvm", "xen", "uml", "exe"})
VM_MODE_ALIASES = {"pv": "xen", "hv": "hvm", "baremetal": "hvm"}

# libvirt domain state -> Nova vm_state, for num_vm_<vm_state>
VM_STATES = {
    "running": "active",
    "blocked": "active",
    "shutdown": "active",  # shutting down: still running
    "paused": "paused",
    "shutoff": "stopped",
    "crashed": "error",
    "pmsuspended": "suspended",
}


def dumps(value) -> str:
    return json.dumps(value, sort_keys=True)


T = TypeVar("T")


class PerObject(Generic[T]):
    """The JSON built for the last object given, built again only for another object: the
    driver hands the same cpu_info and guest records until it reconnects."""

    def __init__(self, build: Callable[[T], str]):
        self._build = build
        self._last: tuple[T, str] | None = None
        self.builds = 0

    def __call__(self, value: T) -> str:
        last = self._last  # one read: another thread may replace it
        if last is not None and last[0] is value:
            return last[1]
        text = self._build(value)
        self._last, self.builds = (value, text), self.builds + 1
        return text


def nova_object(name: str, version: str, data: dict) -> dict:
    return {
        "nova_object.name": name,
        "nova_object.namespace": "nova",
        "nova_object.version": version,
        "nova_object.data": data,
        "nova_object.changes": sorted(data),
    }


def numa_topology(
    cells: Iterable[CellUsage], networks: Mapping[int, CellNetworks] | None = None
) -> str | None:
    cells = list(cells)
    if not cells:
        return None
    networks = networks or {}
    data = {"cells": [_cell(c, networks.get(c.id, CellNetworks())) for c in cells]}
    return dumps(nova_object("NUMATopology", NUMA_TOPOLOGY_VERSION, data))


def _cell(cell: CellUsage, networks: CellNetworks) -> dict:
    return nova_object(
        "NUMACell",
        NUMA_CELL_VERSION,
        {
            "id": cell.id,
            "cpuset": sorted(cell.shared_cpus),
            "pcpuset": sorted(cell.dedicated_cpus),
            "memory": cell.memory_bytes // MiB,
            "cpu_usage": cell.vcpus_used,
            "memory_usage": cell.memory_used_bytes // MiB,
            "pinned_cpus": sorted(cell.pinned_cpus),
            "siblings": [sorted(group) for group in cell.siblings],
            "mempages": [
                nova_object(
                    "NUMAPagesTopology",
                    NUMA_PAGES_VERSION,
                    {
                        "size_kb": pages.size_bytes // KiB,
                        "total": pages.total,
                        "used": pages.used,
                        "reserved": pages.reserved,
                    },
                )
                for pages in cell.pages
            ],
            "network_metadata": nova_object(
                "NetworkMetadata",
                NETWORK_METADATA_VERSION,
                {"physnets": sorted(networks.physnets), "tunneled": networks.tunneled},
            ),
            "socket": cell.socket,
        },
    )


def supported_instances(guests: Iterable[GuestType]) -> str:
    kinds: dict[tuple[str, str, str], None] = {}  # an ordered set
    for guest in guests:
        arch = guest.arch.lower()
        arch = ARCHITECTURE_ALIASES.get(arch, arch)
        hv_type = guest.domain_type.lower()
        hv_type = "xen" if hv_type == "xapi" else hv_type
        vm_mode = guest.os_type.lower()
        vm_mode = VM_MODE_ALIASES.get(vm_mode, vm_mode)
        if arch in ARCHITECTURES and hv_type in HYPERVISOR_TYPES and vm_mode in VM_MODES:
            kinds[(arch, hv_type, vm_mode)] = None
    return json.dumps([list(kind) for kind in kinds])


CPU_INFO: PerObject[CpuInfo] = PerObject(lambda cpu_info: dumps(cpu_info.as_dict()))
SUPPORTED_INSTANCES: PerObject[tuple[GuestType, ...]] = PerObject(supported_instances)


def stats(
    domain_states: Mapping[str, int], busy: int, nova_domains: Iterable[NovaDomain] = ()
) -> str:
    counts = {"num_instances": sum(domain_states.values()), "io_workload": busy}
    for state, count in domain_states.items():
        vm_state = VM_STATES.get(state)
        if vm_state:
            key = f"num_vm_{vm_state}"
            counts[key] = counts.get(key, 0) + count
    # as nova/compute/stats.py update_stats_for_instance counts them, for the domains whose
    # Nova metadata tells (Nova writes None as "None": an image without os_type)
    for domain in nova_domains:
        instance = domain.instance
        keys = [f"num_proj_{instance.project_id}"] if instance.project_id else []
        if instance.os_type_known:
            keys.append(f"num_os_type_{instance.os_type}")
        for key in keys:
            counts[key] = counts.get(key, 0) + 1
    return dumps(counts)


def pci_device_values(state: DeviceState) -> PciDeviceValues:
    device = state.device
    extra = {}
    if device.class_id is not None:
        extra["class"] = device.class_id
    if device.iommu_group is not None:
        extra["iommu_group"] = str(device.iommu_group)
    capabilities = _capabilities(device)
    if capabilities:
        extra["capabilities"] = dumps(capabilities)
    if device.parent_ifname:
        extra["parent_ifname"] = device.parent_ifname
    if device.mac_address:
        extra["mac_address"] = device.mac_address
    tags = dict(state.spec.tags) if state.spec is not None else {}
    extra.update({key: value for key in _SPEC_TAGS_IN_EXTRA_INFO if (value := tags.get(key))})
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


def _capabilities(device: PciDevice) -> dict:
    """Nova's host.py _get_device_capabilities: a VF's `network` features and `sriov`
    details, and any device's `vpd` serial number; the keys Nova would write, no others."""
    capabilities: dict = {}
    if device.dev_type == TYPE_VF:
        if device.network_features:
            capabilities["network"] = list(device.network_features)
        if device.pf_mac_address and device.vf_num is not None:
            sriov = {"pf_mac_address": device.pf_mac_address, "vf_num": device.vf_num}
            capabilities["sriov"] = sriov
    if device.card_serial_number:
        capabilities["vpd"] = {"card_serial_number": device.card_serial_number}
    return capabilities


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


def read_numa_topology(primitive: Mapping[str, Any] | None) -> tuple[CellUsage, ...]:
    """The cells of a numa_topology column we wrote (parsed), pages smallest size first as
    written; sizes back in bytes (whole MiB, as stored) and page `free` unknown (None)."""
    if not primitive:
        return ()
    return tuple(_read_cell(cell["nova_object.data"]) for cell in _data(primitive)["cells"])


def _read_cell(data: Mapping[str, Any]) -> CellUsage:
    return CellUsage(
        id=data["id"],
        socket=data.get("socket"),  # NUMACell before 1.5 has none
        shared_cpus=frozenset(data["cpuset"]),
        dedicated_cpus=frozenset(data["pcpuset"]),
        siblings=tuple(frozenset(group) for group in data["siblings"]),
        memory_bytes=data["memory"] * MiB,
        vcpus_used=data["cpu_usage"],
        pinned_cpus=frozenset(data["pinned_cpus"]),
        memory_used_bytes=data["memory_usage"] * MiB,
        pages=tuple(
            PageUsage(
                size_bytes=page["size_kb"] * KiB,
                total=page["total"],
                used=page["used"],
                reserved=page["reserved"],
                free=None,  # not in the column
            )
            for page in (item["nova_object.data"] for item in data["mempages"])
        ),
    )


def read_pci_stats(primitive: Mapping[str, Any] | None) -> tuple[Pool, ...]:
    """The pools of a pci_stats column we wrote (parsed)."""
    if not primitive:
        return ()
    return tuple(
        Pool(
            vendor_id=pool["vendor_id"],
            product_id=pool["product_id"],
            numa_node=pool["numa_node"],
            tags=tuple(sorted(pool["tags"].items())),
            count=pool["count"],
        )
        for pool in (item["nova_object.data"] for item in _data(primitive)["objects"])
    )


def read_mdev_capacity(entries: Iterable[Mapping[str, Any]] | None) -> tuple[MdevCapacity, ...]:
    """The entries of an mdev_capacity column we wrote (parsed); `free` is computed again."""
    return tuple(
        MdevCapacity(
            parent=entry["parent"],
            type_id=entry["type"],
            name=entry["name"],
            device_api=entry["device_api"],
            available_instances=entry["available_instances"],
            existing=entry["existing"],
            used=entry["used"],
            orphaned=tuple(entry["orphaned"]),
        )
        for entry in entries or ()
    )


def _data(primitive: Mapping[str, Any]) -> Mapping[str, Any]:
    return primitive["nova_object.data"]
