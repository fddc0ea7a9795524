"""The SEV, SEV-ES and SEV-SNP children from the guest features, the kvm_amd parameters and
the QEMU version, by Nova 34's rules (host.py supports_amd_sev*, the slots of each kind);
their match with Nova's own code is tests/functional/test_nova_placement.py."""

from __future__ import annotations

import dataclasses

import pytest

from resource_tracker.audit.mem_encryption import mem_encryption_children
from resource_tracker.placement.records import ProviderReport
from resource_tracker.resources import (
    CpuInfo,
    CpuTopology,
    GuestFeatures,
    HostResources,
    LocalStorage,
)

ROOT = ProviderReport("00000000-0000-4000-8000-000000000001", "compute-1", (), frozenset(),
                      frozenset())  # fmt: skip
SEV = GuestFeatures(sev=True, sev_max_guests=15, sev_max_es_guests=494, sev_snp=True)
QEMU_8 = 8_002_000
EVERY = frozenset({"sev", "sev_es", "sev_snp"})


def host(features, kernel=EVERY, qemu=QEMU_8, arch="x86_64") -> HostResources:
    if features is not None:
        features = dataclasses.replace(features, kvm_amd=kernel)
    cpu = CpuInfo(arch, None, None, CpuTopology(1, 8, 1, 1), ())
    return HostResources(
        "compute-1", "QEMU", qemu, cpu, 8, 0, 2**34, 0, 0, 0, LocalStorage(2**40, 2**40, 0),
        (), 0, 0, guest_features=features,
    )  # fmt: skip


def kinds(resources) -> dict[str, tuple[int, frozenset[str]]]:
    return {
        child.name: (child.inventories[0].total, child.traits)
        for child in mem_encryption_children(ROOT, resources)
    }


def test_sev_child():
    (child,) = mem_encryption_children(ROOT, host(SEV, frozenset({"sev"})))

    assert child.name == "compute-1_amd_sev" and child.parent == ROOT.uuid
    assert [i.as_placement() for i in child.inventories] == [
        {"total": 15, "reserved": 0, "min_unit": 1, "max_unit": 1, "step_size": 1,
         "allocation_ratio": 1.0}
    ]  # fmt: skip
    assert child.traits == {"HW_CPU_X86_AMD_SEV"}
    again = mem_encryption_children(ROOT, host(SEV, frozenset({"sev"})))
    assert again[0].uuid == child.uuid


@pytest.mark.parametrize(
    ("kernel", "qemu", "expected"),
    [
        # SNP on: SEV-ES is ignored, as Nova ignores it; SNP counts maxESGuests
        (EVERY, QEMU_8, {"compute-1_amd_sev": 15, "compute-1_amd_sev_snp": 494}),
        ({"sev", "sev_es"}, QEMU_8, {"compute-1_amd_sev": 15, "compute-1_amd_sev_es": 494}),
        ({"sev", "sev_es"}, 7_002_000, {"compute-1_amd_sev": 15}),  # QEMU before 8.0
        ({"sev_es", "sev_snp"}, QEMU_8, {}),  # kvm_amd's sev off: none at all
        (set(), QEMU_8, {}),
    ],
)
def test_kinds_by_kernel_and_qemu(kernel, qemu, expected):
    found = kinds(host(SEV, frozenset(kernel), qemu))

    assert {name: total for name, (total, _traits) in found.items()} == expected


def test_each_kind_has_its_trait():
    es = kinds(host(SEV, frozenset({"sev", "sev_es"})))["compute-1_amd_sev_es"]
    snp = kinds(host(SEV))["compute-1_amd_sev_snp"]

    assert (es[1], snp[1]) == ({"HW_CPU_X86_AMD_SEV_ES"}, {"HW_CPU_X86_AMD_SEV_SNP"})


def test_snp_needs_libvirts_launch_security():
    found = kinds(host(dataclasses.replace(SEV, sev_snp=False)))

    assert set(found) == {"compute-1_amd_sev"}


def test_unknown_another_arch_or_no_guests_said_have_none():
    assert mem_encryption_children(ROOT, host(None)) == ()
    assert mem_encryption_children(ROOT, host(SEV, arch="aarch64")) == ()
    no_counts = dataclasses.replace(SEV, sev_max_guests=None, sev_max_es_guests=0)
    assert mem_encryption_children(ROOT, host(no_counts)) == ()
