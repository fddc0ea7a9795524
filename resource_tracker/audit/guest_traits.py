"""What Nova 34's libvirt driver reports from the domain capabilities (GuestFeatures):

- COMPUTE_STORAGE_BUS_<BUS> for each disk bus (_get_storage_bus_traits, virt_type kvm or
  qemu) and COMPUTE_GRAPHICS_MODEL_<MODEL> for each video model (_get_video_model_traits),
  '-' made '_'; those os-traits does not name are dropped, as Nova drops them (os-traits'
  names under these prefixes are exactly Nova's bus and model lists);
- COMPUTE_SECURITY_UEFI_SECURE_BOOT where a loader offers secure boot (Host.
  supports_secure_boot, through the compute manager's capability traits);
- TPM: tpm_traits.py; SEV, SEV-ES, SEV-SNP child providers: mem_encryption.py.

Unknown features (None: libvirt refused them) give no traits and own none: traits already
on the provider are left as they are, never removed on a guess.
"""

from __future__ import annotations

from resource_tracker.resources import GuestFeatures

STORAGE_BUS = "COMPUTE_STORAGE_BUS_"
GRAPHICS_MODEL = "COMPUTE_GRAPHICS_MODEL_"
SECURE_BOOT = "COMPUTE_SECURITY_UEFI_SECURE_BOOT"
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


def _named(prefix: str, names: frozenset[str]) -> set[str]:
    import os_traits

    known = set(os_traits.get_traits(prefix=prefix))
    return {trait for name in names if (trait := prefix + name.replace("-", "_").upper()) in known}
