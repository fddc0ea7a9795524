"""What Nova 34's libvirt driver reports from the domain capabilities (GuestFeatures):

- COMPUTE_STORAGE_BUS_<BUS> for each disk bus (_get_storage_bus_traits, virt_type kvm or
  qemu) and COMPUTE_GRAPHICS_MODEL_<MODEL> for each video model (_get_video_model_traits),
  '-' made '_'; those os-traits does not name are dropped, as Nova drops them (os-traits'
  names under these prefixes are exactly Nova's bus and model lists);
- COMPUTE_SECURITY_UEFI_SECURE_BOOT where a loader offers secure boot (Host.
  supports_secure_boot, through the compute manager's capability traits);
- SEV (Host.supports_amd_sev): a child provider <hypervisor_hostname>_amd_sev with
  MEM_ENCRYPTION_CONTEXT = the domain capabilities' maxGuests and the trait
  HW_CPU_X86_AMD_SEV (_ensure_memory_encryption_providers). Nova also reads the kvm_amd
  module's `sev` parameter; libvirt reports SEV supported only when it is set.

Unknown features (None: libvirt refused them) give no traits and own none: traits already
on the provider are left as they are, never removed on a guess.
"""

from __future__ import annotations

import uuid as uuid_module

from resource_tracker.placement.records import MEM_ENCRYPTION_CONTEXT, Inventory, ProviderReport
from resource_tracker.resources import GuestFeatures

STORAGE_BUS = "COMPUTE_STORAGE_BUS_"
GRAPHICS_MODEL = "COMPUTE_GRAPHICS_MODEL_"
SECURE_BOOT = "COMPUTE_SECURITY_UEFI_SECURE_BOOT"
SEV = "HW_CPU_X86_AMD_SEV"
# os_traits is imported where used: only a daemon reporting to Placement loads it (issue 21)


def guest_traits(features: GuestFeatures | None) -> frozenset[str]:
    if features is None:
        return frozenset()
    found = _named(STORAGE_BUS, features.disk_buses) | _named(
        GRAPHICS_MODEL, features.video_models
    )
    if features.secure_boot:
        found.add(SECURE_BOOT)
    return frozenset(found)


def owned_guest_traits(features: GuestFeatures | None) -> frozenset[str]:
    if features is None:
        return frozenset()
    import os_traits

    return frozenset(
        os_traits.get_traits(prefix=STORAGE_BUS)
        + os_traits.get_traits(prefix=GRAPHICS_MODEL)
        + [SECURE_BOOT]
    )


def sev_children(
    root: ProviderReport, features: GuestFeatures | None
) -> tuple[ProviderReport, ...]:
    """The SEV child where libvirt says SEV is supported and how many guests it takes (a
    total of 0 or not said: none, as Placement refuses it and unknown is not a capacity)."""
    if features is None or not features.sev or not features.sev_max_guests:
        return ()
    total = features.sev_max_guests
    name = f"{root.name}_amd_sev"
    sev = frozenset({SEV})
    return (
        ProviderReport(
            uuid=str(uuid_module.uuid5(uuid_module.UUID(root.uuid), name)),
            name=name,
            inventories=(Inventory(MEM_ENCRYPTION_CONTEXT, total, 0, 1, 1, 1, 1.0),),
            traits=sev,
            owned_traits=sev,
            parent=root.uuid,
        ),
    )


def _named(prefix: str, names: frozenset[str]) -> set[str]:
    import os_traits

    known = set(os_traits.get_traits(prefix=prefix))
    return {trait for name in names if (trait := prefix + name.replace("-", "_").upper()) in known}
