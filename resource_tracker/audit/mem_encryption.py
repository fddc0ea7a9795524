"""The memory encryption child providers Nova 34's libvirt driver makes
(_update_provider_tree_for_memory_encryption, from Host.get_mem_encryption_inventories):
one per kind the host supports, named <hypervisor_hostname>_<kind>, with
MEM_ENCRYPTION_CONTEXT = the guests it takes (min_unit, max_unit, step_size 1, ratio 1) and
the kind's trait:

- amd_sev (HW_CPU_X86_AMD_SEV): an x86_64 host whose kvm_amd module has `sev` on and whose
  domain capabilities say SEV is supported (the first machine type that does gives the
  counts); the guests: its maxGuests;
- amd_sev_es (HW_CPU_X86_AMD_SEV_ES): amd_sev, kvm_amd's `sev_es` on, QEMU 8.0 or later, and
  kvm_amd's `sev_snp` off (Nova ignores SEV-ES where SNP is on); the guests: maxESGuests;
- amd_sev_snp (HW_CPU_X86_AMD_SEV_SNP): amd_sev, kvm_amd's `sev_snp` on, and a supported
  <launchSecurity> offering sev-snp; the guests: maxESGuests too, as Nova counts them.

A kind whose count is 0 or not said has no provider (Placement refuses a total of 0, and
unknown is not a capacity). Intel TDX (Nova's fourth kind) needs cpu_mode host-passthrough
and the misc cgroup's capacity, which the tracker does not read: not reported.
"""

from __future__ import annotations

import uuid as uuid_module

from resource_tracker.placement.records import MEM_ENCRYPTION_CONTEXT, Inventory, ProviderReport
from resource_tracker.resources import HostResources

SEV = "HW_CPU_X86_AMD_SEV"
SEV_ES = "HW_CPU_X86_AMD_SEV_ES"
SEV_SNP = "HW_CPU_X86_AMD_SEV_SNP"
QEMU_SEV_ES = 8_000_000  # QEMU 8.0.0, as libvirt's getVersion() numbers it


def mem_encryption_children(
    root: ProviderReport, resources: HostResources
) -> tuple[ProviderReport, ...]:
    features = resources.guest_features
    if (
        features is None
        or resources.cpu_info.arch != "x86_64"
        or "sev" not in features.kvm_amd
        or not features.sev
    ):
        return ()
    kernel = features.kvm_amd
    es = "sev_es" in kernel and "sev_snp" not in kernel
    es = es and resources.hypervisor_version >= QEMU_SEV_ES
    kinds = (
        ("amd_sev", SEV, features.sev_max_guests),
        ("amd_sev_es", SEV_ES, features.sev_max_es_guests if es else None),
        ("amd_sev_snp", SEV_SNP, features.sev_max_es_guests if _snp(kernel, features) else None),
    )
    return tuple(_child(root, kind, trait, total) for kind, trait, total in kinds if total)


def _snp(kernel: frozenset[str], features) -> bool:
    return "sev_snp" in kernel and features.sev_snp


def _child(root: ProviderReport, kind: str, trait: str, total: int) -> ProviderReport:
    name = f"{root.name}_{kind}"
    traits = frozenset({trait})
    return ProviderReport(
        uuid=str(uuid_module.uuid5(uuid_module.UUID(root.uuid), name)),
        name=name,
        inventories=(Inventory(MEM_ENCRYPTION_CONTEXT, total, 0, 1, 1, 1, 1.0),),
        traits=traits,
        owned_traits=traits,
        parent=root.uuid,
    )
