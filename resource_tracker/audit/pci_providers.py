"""The root provider's PCI children, as Nova 34 makes them with [pci] report_in_placement
(nova/compute/pci_placement_translator.py): one provider per offered PF or standalone PCI
device, and one per PF for its offered VFs, named <hypervisor_hostname>_<ADDRESS>. Its one
resource class is the device_spec's `resource_class` (made a legal custom name) or
CUSTOM_PCI_<VENDOR>_<PRODUCT>; total and max_unit the devices; traits COMPUTE_MANAGED_PCI_DEVICE,
the spec's `traits`, HW_PCI_LIVE_MIGRATABLE with `live_migratable`. Devices with a
`physical_network` tag are Neutron's (left out, as Nova does).

`one_time_use` true on a PF or standalone device: the trait HW_PCI_ONE_TIME_USE, and while
a domain holds the device its inventory is reserved whole, as Nova's translator does, so
no one else gets it after its first user until an operator frees it. Reserved is otherwise
the operator's: Nova never sends it for these providers, so what Placement has is kept.

Where Nova stops the compute service (a PF offered with its VFs, VFs of one PF with other
classes or traits, a VF's spec with `one_time_use` at all), the devices are left out here
with one log line. Nova also adds OWNER_NOVA: this is not Nova.
"""

from __future__ import annotations

import logging
import re
import uuid as uuid_module
from collections.abc import Sequence
from dataclasses import dataclass

from resource_tracker.audit.devices import ALLOCATED, DeviceState
from resource_tracker.placement.records import Inventory, ProviderReport
from resource_tracker.resources import TYPE_PCI, TYPE_PF, TYPE_VDPA, TYPE_VF

LOG = logging.getLogger(__name__)

# by name: os-traits has them from 2.9 and 3.3 on; Placement knows them from its own copy
MANAGED, LIVE_MIGRATABLE = "COMPUTE_MANAGED_PCI_DEVICE", "HW_PCI_LIVE_MIGRATABLE"
ONE_TIME_USE = "HW_PCI_ONE_TIME_USE"  # os-traits 3.4
PARENT_TYPES = (TYPE_PCI, TYPE_PF)
CHILD_TYPES = (TYPE_VF, TYPE_VDPA)


@dataclass(frozen=True, slots=True)
class _Group:
    address: str  # the provider's device: a parent, or the PF of VFs
    resource_class: str
    traits: frozenset[str]
    count: int


def pci_children(
    root: ProviderReport, offered: Sequence[DeviceState], said: set[str]
) -> tuple[ProviderReport, ...]:
    """`said` holds the problems already logged (each is said once)."""
    groups: dict[str, list[tuple[DeviceState, str, frozenset[str]]]] = {}
    for state in offered:
        tags = dict(state.spec.tags) if state.spec else {}
        if tags.get("physical_network"):
            continue
        device = state.device
        if device.dev_type in PARENT_TYPES:
            key = device.address
        elif device.dev_type in CHILD_TYPES and device.parent_addr:
            key = device.parent_addr
        else:
            continue
        entry = (state, resource_class(tags, device.vendor_id, device.product_id), _traits(tags))
        groups.setdefault(key, []).append(entry)
    children = []
    for address, entries in sorted(groups.items()):
        problem = _problem(address, entries)
        if problem:
            if problem not in said:
                LOG.warning("[pci] report_in_placement: %s; left out (Nova refuses it)", problem)
                said.add(problem)
            continue
        state, rc, traits = entries[0]
        name = f"{root.name}_{address.upper()}"
        total = len(entries)
        used_once = ONE_TIME_USE in traits and state.status == ALLOCATED
        children.append(
            ProviderReport(
                uuid=str(uuid_module.uuid5(uuid_module.UUID(root.uuid), name)),
                name=name,
                inventories=(Inventory(rc, total, total if used_once else 0, 1, total, 1, 1.0),),
                traits=traits,
                owned_traits=traits,
                parent=root.uuid,
                kept_reserved=frozenset({rc}),
            )
        )
    return tuple(children)


def _problem(address: str, entries) -> str | None:
    kinds = {state.device.dev_type in PARENT_TYPES for state, _rc, _traits in entries}
    if kinds == {True, False}:
        return f"PF {address} is offered with its VFs"
    if len({(rc, traits) for _state, rc, traits in entries}) > 1:
        return f"the VFs of {address} have different resource classes or traits"
    for state, _rc, _traits in entries:
        if state.device.dev_type in CHILD_TYPES and state.spec and _tag(state, "one_time_use"):
            return f"one_time_use is set for {state.device.address}, not a PF or PCI device"
    return None


def _tag(state: DeviceState, name: str) -> bool:
    return state.spec is not None and name in dict(state.spec.tags)


def resource_class(tags: dict, vendor_id: str, product_id: str) -> str:
    requested = tags.get("resource_class")
    if not requested:
        return f"CUSTOM_PCI_{vendor_id}_{product_id}".upper()
    name = requested.upper()
    if name.startswith("CUSTOM_") or name in STANDARD_CLASSES:
        return name
    return "CUSTOM_" + re.sub("[^0-9A-Za-z]+", "_", requested).upper()


# Placement's standard resource classes (os-resource-classes 1.1.0, checked against it in
# tests/functional/test_nova_placement.py)
STANDARD_CLASSES = frozenset(
    {
        "DISK_GB", "FPGA", "IPV4_ADDRESS", "MEMORY_MB", "MEM_ENCRYPTION_CONTEXT",
        "NET_BW_EGR_KILOBIT_PER_SEC", "NET_BW_IGR_KILOBIT_PER_SEC",
        "NET_PACKET_RATE_EGR_KILOPACKET_PER_SEC", "NET_PACKET_RATE_IGR_KILOPACKET_PER_SEC",
        "NET_PACKET_RATE_KILOPACKET_PER_SEC", "NUMA_CORE", "NUMA_MEMORY_MB", "NUMA_SOCKET",
        "NUMA_THREAD", "PCI_DEVICE", "PCPU", "PGPU", "SRIOV_NET_VF", "VCPU", "VGPU",
        "VGPU_DISPLAY_HEAD",
    }
)  # fmt: skip


def _traits(tags: dict) -> frozenset[str]:
    import os_traits  # only when reporting to Placement (daemon memory, issue 21)

    names = [name.strip() for name in (tags.get("traits") or "").split(",") if name.strip()]
    found = {MANAGED}
    for name in names:  # as Nova normalizes them: a standard name only as written
        upper = name.upper()
        if os_traits.check_traits([name])[0]:
            found.add(name)
        elif upper.startswith("CUSTOM_"):
            found.add(upper)
        else:
            found.add(os_traits.normalize_name(upper))
    if str(tags.get("live_migratable", "false")).lower() in ("true", "yes", "1", "on", "y"):
        found.add(LIVE_MIGRATABLE)
    if tags.get("one_time_use") == "true":  # device_spec.py made it "true" or "false"
        found.add(ONE_TIME_USE)
    return frozenset(found)
