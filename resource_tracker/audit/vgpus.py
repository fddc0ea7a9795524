"""The root provider's vGPU children, as Nova 34's libvirt driver makes them
(_get_gpu_inventories, _ensure_pgpu_providers): one per physical GPU offering an enabled
mediated device type, named <hypervisor_hostname>_<its node device name>, with VGPU
inventory = the mdevs of that type it has + those it can still create (total = max_unit,
nothing reserved, ratio 1). Nova makes up the child's uuid; here it is derived from the
root's uuid and the name, so every audit (and a restart) finds the same provider."""

from __future__ import annotations

import uuid as uuid_module
from collections.abc import Sequence

from resource_tracker.audit.devices import MdevCapacity
from resource_tracker.placement.records import VGPU, Inventory, ProviderReport


def vgpu_children(
    root: ProviderReport, mdevs: Sequence[MdevCapacity], enabled: Sequence[str]
) -> tuple[ProviderReport, ...]:
    by_parent: dict[str, MdevCapacity] = {}
    for capacity in mdevs:
        if capacity.type_id not in enabled:
            continue
        chosen = by_parent.get(capacity.parent)
        if chosen is None or enabled.index(capacity.type_id) < enabled.index(chosen.type_id):
            by_parent[capacity.parent] = capacity
    children = []
    for parent, capacity in sorted(by_parent.items()):
        total = capacity.existing + capacity.available_instances
        if total <= 0:
            continue  # Placement refuses a total of 0
        name = f"{root.name}_{node_device_name(parent)}"
        children.append(
            ProviderReport(
                uuid=str(uuid_module.uuid5(uuid_module.UUID(root.uuid), name)),
                name=name,
                inventories=(Inventory(VGPU, total, 0, 1, total, 1, 1.0),),
                traits=frozenset(),
                owned_traits=frozenset(),
                parent=root.uuid,
            )
        )
    return tuple(children)


def node_device_name(parent: str) -> str:
    """libvirt's node device name of a PCI address (0000:3b:00.0 -> pci_0000_3b_00_0); a
    parent that is no PCI address is a node device name already."""
    if ":" not in parent:
        return parent
    return "pci_" + parent.replace(":", "_").replace(".", "_")
