"""The host's root resource provider for Placement, as Nova 34's libvirt driver makes it
(nova/virt/libvirt/driver.py update_provider_tree; nova/compute/resource_tracker.py
_get_traits), from the row the audit computed.

Inventories: VCPU (the shared CPUs, reserved_host_cpus held back), PCPU (the dedicated CPUs,
ratio 1, nothing reserved), MEMORY_MB (reserved_host_memory_mb held back), DISK_GB (the
reserve in whole GB, rounded up); max_unit is the total, min_unit and step_size 1. A class
with total 0 is left out, and a reserve above the total is cut to it: Placement refuses both
(Nova sends them, and its whole inventory is refused).

Traits: the CPU's features as HW_CPU_X86_* (Nova's mapping of libvirt's feature names, with
os-traits' names), HW_CPU_HYPERTHREADING (an online CPU with an SMT sibling), HW_ARCH_<arch>
and COMPUTE_ARCH_<arch> for the architectures guests can have, COMPUTE_NODE, what the
domain capabilities give where libvirt answers them (guest_traits.py: disk buses, video
models, secure boot; tpm_traits.py: vTPM; mem_encryption.py: the SEV, SEV-ES and SEV-SNP
child providers), the compute manager's capability traits (capability_traits.py: image
types, ...) and the driver's guest models (model_traits.py).
"""

from __future__ import annotations

import functools
import uuid as uuid_module
from collections.abc import Mapping
from dataclasses import dataclass

from resource_tracker.audit.capability_traits import capability_traits
from resource_tracker.audit.devices import DeviceUse
from resource_tracker.audit.driver_settings import NOVA_DEFAULTS, DriverSettings
from resource_tracker.audit.guest_traits import STORAGE_BUS, guest_traits, owned_guest_traits
from resource_tracker.audit.mem_encryption import mem_encryption_children
from resource_tracker.audit.model_traits import DOMAIN_CAPABILITIES_BUSES, model_traits
from resource_tracker.audit.pci_providers import pci_children
from resource_tracker.audit.tpm_traits import NO_VTPM, Vtpm, tpm_traits
from resource_tracker.audit.vgpus import vgpu_children
from resource_tracker.placement.records import (
    DISK_GB,
    MEMORY_MB,
    PCPU,
    VCPU,
    Inventory,
    ProviderReport,
    ProviderTree,
)
from resource_tracker.resources import ComputeNodeValues, HostResources
from resource_tracker.units import GiB, mib_in_whole_gib

# the namespace of the uuids of sharing providers, from the storage_id (uuid5)
STORAGE_NAMESPACE = uuid_module.UUID("5b9f1d8e-6c1a-4f7e-9a53-2f0e6d4c8b71")
KVM_QEMU = ("kvm", "qemu")


@functools.cache
def known_traits() -> frozenset[str]:
    """Every trait the installed os-traits names (150 us to list: once, not each audit)."""
    import os_traits  # only when reporting to Placement (daemon memory, issue 21)

    return frozenset(os_traits.get_traits())


# libvirt's CPU feature names (its cpu_map) and the traits Nova 34 reports for them
# (nova/virt/libvirt/utils.py CPU_TRAITS_MAPPING)
@functools.cache
def cpu_feature_traits() -> Mapping[str, tuple[str, ...]]:

    # a trait the installed os-traits lacks (Debian 13's is older than Nova 34's) is one
    # Placement of that age lacks too: left out rather than refused
    known = known_traits()
    mapping = {
        "3dnow": ("HW_CPU_X86_3DNOW",),
        "abm": ("HW_CPU_X86_ABM",),
        "aes": ("HW_CPU_X86_AESNI",),
        "amx-bf16": ("HW_CPU_X86_AMXBF16",),
        "amx-int8": ("HW_CPU_X86_AMXINT8",),
        "amx-tile": ("HW_CPU_X86_AMXTILE",),
        "avx": ("HW_CPU_X86_AVX",),
        "avx2": ("HW_CPU_X86_AVX2",),
        "avx512bw": ("HW_CPU_X86_AVX512BW",),
        "avx512cd": ("HW_CPU_X86_AVX512CD",),
        "avx512dq": ("HW_CPU_X86_AVX512DQ",),
        "avx512er": ("HW_CPU_X86_AVX512ER",),
        "avx512f": ("HW_CPU_X86_AVX512F",),
        "avx512pf": ("HW_CPU_X86_AVX512PF",),
        "avx512vl": ("HW_CPU_X86_AVX512VL",),
        "avx512vnni": ("HW_CPU_X86_AVX512VNNI",),
        "avx512vbmi": ("HW_CPU_X86_AVX512VBMI",),
        "avx512ifma": ("HW_CPU_X86_AVX512IFMA",),
        "avx512vbmi2": ("HW_CPU_X86_AVX512VBMI2",),
        "avx512bitalg": ("HW_CPU_X86_AVX512BITALG",),
        "vaes": ("HW_CPU_X86_AVX512VAES",),
        "gfni": ("HW_CPU_X86_AVX512GFNI",),
        "vpclmulqdq": ("HW_CPU_X86_AVX512VPCLMULQDQ",),
        "avx512-vpopcntdq": ("HW_CPU_X86_AVX512VPOPCNTDQ",),
        "bmi1": ("HW_CPU_X86_BMI",),
        "bmi2": ("HW_CPU_X86_BMI2",),
        "pclmuldq": ("HW_CPU_X86_CLMUL",),
        "f16c": ("HW_CPU_X86_F16C",),
        "fma": ("HW_CPU_X86_FMA3",),
        "fma4": ("HW_CPU_X86_FMA4",),
        "mmx": ("HW_CPU_X86_MMX",),
        "mpx": ("HW_CPU_X86_MPX",),
        "sha-ni": ("HW_CPU_X86_SHA",),
        "sse": ("HW_CPU_X86_SSE",),
        "sse2": ("HW_CPU_X86_SSE2",),
        "sse3": ("HW_CPU_X86_SSE3",),
        "sse4.1": ("HW_CPU_X86_SSE41",),
        "sse4.2": ("HW_CPU_X86_SSE42",),
        "sse4a": ("HW_CPU_X86_SSE4A",),
        "ssse3": ("HW_CPU_X86_SSSE3",),
        # the generic trait kept beside the vendor's, as Nova does
        "svm": ("HW_CPU_X86_SVM", "HW_CPU_X86_AMD_SVM"),
        "tbm": ("HW_CPU_X86_TBM",),
        "vmx": ("HW_CPU_X86_VMX", "HW_CPU_X86_INTEL_VMX"),
        "xop": ("HW_CPU_X86_XOP",),
    }
    return {
        feature: tuple(trait for trait in traits if trait in known)
        for feature, traits in mapping.items()
    }


@functools.cache
def cpu_traits() -> frozenset[str]:
    return frozenset(trait for traits in cpu_feature_traits().values() for trait in traits)


@dataclass(frozen=True, slots=True)
class ProviderPolicy:
    """The resource classes whose allocation_ratio the operator configured (in our config
    or nova.conf); the others' ratios are initial ones, and Placement's are kept."""

    explicit_ratios: frozenset[str] = frozenset()
    enabled_mdev_types: tuple[str, ...] = ()  # [devices] enabled_mdev_types
    pci_in_placement: bool = False  # [pci] report_in_placement
    vtpm: Vtpm = NO_VTPM  # [libvirt] swtpm_enabled and the options beside it
    driver: DriverSettings = NOVA_DEFAULTS


def provider_tree(
    uuid: str,
    resources: HostResources,
    values: ComputeNodeValues,
    policy: ProviderPolicy,
    shared_overcommit_bytes: int | None = None,
    devices: DeviceUse | None = None,
    said: set[str] | None = None,
) -> ProviderTree:
    """The root provider and its vGPU children; on shared storage (`values.storage_id`) the
    root without DISK_GB, in the aggregate of the storage's sharing provider, which holds the
    disk once for every host. `said` keeps the device problems logged (each said once)."""
    said = set() if said is None else said
    local = inventories(values)
    tpm, owned_tpm = tpm_traits(resources.guest_features, policy.vtpm, said)
    found = traits(resources, policy.driver, devices) | tpm
    owned = owned_traits(resources, policy.driver, devices) | owned_tpm
    if values.storage_id is None:
        root = ProviderReport(
            uuid, values.hypervisor_hostname, local, found, owned, policy.explicit_ratios
        )
        return ProviderTree(root, children=_children(root, resources, devices, policy, said))
    shared = sharing_provider(values, policy, shared_overcommit_bytes or 0)
    root = ProviderReport(
        uuid,
        values.hypervisor_hostname,
        tuple(inventory for inventory in local if inventory.resource_class != DISK_GB),
        found,
        owned,
        policy.explicit_ratios,
        aggregates=frozenset({shared.uuid}),
    )
    return ProviderTree(root, shared, _children(root, resources, devices, policy, said))


def _children(
    root: ProviderReport,
    resources: HostResources,
    devices: DeviceUse | None,
    policy: ProviderPolicy,
    said: set[str],
) -> tuple[ProviderReport, ...]:
    sev = mem_encryption_children(root, resources)
    if devices is None:
        return sev
    vgpus = vgpu_children(root, devices.mdevs, policy.enabled_mdev_types)
    if not policy.pci_in_placement:
        return vgpus + sev
    return vgpus + pci_children(root, devices.offered, said) + sev


def sharing_provider(
    values: ComputeNodeValues, policy: ProviderPolicy, overcommit_bytes: int
) -> ProviderReport:
    """The storage `values.storage_id` names, as one provider every host on it reports
    alike: its uuid (and its aggregate's, Nova's convention) derived from the storage id;
    DISK_GB the file system's size, with what the thin disks of every host on it may still
    grow into reserved (as disk_available_least counts it), whole GB rounded up."""
    import os_traits

    storage_id = values.storage_id or ""
    uuid = str(uuid_module.uuid5(STORAGE_NAMESPACE, storage_id))
    total = values.local_gb
    disk = Inventory(
        DISK_GB, total, min(total, -(-overcommit_bytes // GiB)), 1, total, 1,
        float(values.disk_allocation_ratio),
    )  # fmt: skip
    shares = frozenset({os_traits.MISC_SHARES_VIA_AGGREGATE})
    return ProviderReport(
        uuid,
        f"shared storage {storage_id}",
        (disk,) if total > 0 else (),
        shares,
        shares,
        policy.explicit_ratios & {DISK_GB},
        aggregates=frozenset({uuid}),
    )


def inventories(values: ComputeNodeValues) -> tuple[Inventory, ...]:
    disk_reserved_gb = mib_in_whole_gib(values.reserved_host_disk_mb)
    classes = (
        (VCPU, values.vcpus, values.reserved_host_cpus, values.cpu_allocation_ratio),
        (PCPU, values.pcpus or 0, 0, 1.0),
        (MEMORY_MB, values.memory_mb, values.reserved_host_memory_mb, values.ram_allocation_ratio),
        (DISK_GB, values.local_gb, disk_reserved_gb, values.disk_allocation_ratio),
    )
    return tuple(
        Inventory(rc, total, min(reserved, total), 1, total, 1, float(ratio))
        for rc, total, reserved, ratio in classes
        if total > 0
    )


def traits(
    resources: HostResources,
    settings: DriverSettings = NOVA_DEFAULTS,
    devices: DeviceUse | None = None,
) -> frozenset[str]:
    import os_traits

    # Nova's guest CPU model (cpu_mode unset) is the host's for kvm and qemu; other virt
    # types have none, and no feature traits are set or removed
    features = set(resources.cpu_info.features) if settings.virt_type in KVM_QEMU else set()
    found = {
        trait
        for feature, names in cpu_feature_traits().items()
        if feature in features
        for trait in names
    }
    topology = resources.topology
    if topology is not None and any(
        len(group) > 1 for cell in topology.cells for group in cell.siblings
    ):
        found.add(os_traits.HW_CPU_HYPERTHREADING)
    arch = _arch_trait("HW_ARCH_", resources.cpu_info.arch)
    if arch:
        found.add(arch)
    guests = topology.guests if topology is not None else ()
    found.update(trait for guest in guests if (trait := _arch_trait("COMPUTE_ARCH_", guest.arch)))
    found.add(os_traits.COMPUTE_NODE)
    found.update(t for t, on in _decided(resources, settings, devices).items() if on)
    guest = guest_traits(resources.guest_features)
    if settings.virt_type not in DOMAIN_CAPABILITIES_BUSES:  # Nova's table, not libvirt's
        guest = frozenset(t for t in guest if not t.startswith(STORAGE_BUS))
    return frozenset(found) | guest


def owned_traits(
    resources: HostResources,
    settings: DriverSettings = NOVA_DEFAULTS,
    devices: DeviceUse | None = None,
) -> frozenset[str]:
    """The traits this daemon sets or removes; others' are left as they are."""
    import os_traits

    owned = {os_traits.HW_CPU_HYPERTHREADING, os_traits.COMPUTE_NODE}
    if settings.virt_type in KVM_QEMU:
        owned.update(cpu_traits())
    owned.update(t for t, on in _decided(resources, settings, devices).items() if on is not None)
    return (
        frozenset(owned | traits(resources, settings, devices))
        | owned_guest_traits(resources.guest_features)
    )  # fmt: skip


def _decided(
    resources: HostResources, settings: DriverSettings, devices: DeviceUse | None
) -> dict[str, bool | None]:
    """The capability and guest-model traits, those the installed os-traits knows."""
    known = known_traits()
    decided = {**capability_traits(resources, settings, devices)}
    decided.update(model_traits(resources, settings))
    return {trait: on for trait, on in decided.items() if trait in known}


def _arch_trait(prefix: str, arch: str) -> str | None:
    import os_traits

    trait = prefix + arch.upper()
    return trait if trait in os_traits.get_traits(prefix=prefix) else None
