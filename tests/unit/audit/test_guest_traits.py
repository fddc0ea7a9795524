"""Nova's traits and SEV child from the guest features (their match with Nova's own code is
tests/functional/test_nova_placement.py); here what is Nova's choice only by our reading:
unknown features, names os-traits lacks, an SEV without a guest count."""

from __future__ import annotations

from resource_tracker.audit.guest_traits import guest_traits, owned_guest_traits, sev_children
from resource_tracker.placement.records import ProviderReport
from resource_tracker.resources import GuestFeatures

ROOT = ProviderReport("00000000-0000-4000-8000-000000000001", "compute-1", (), frozenset(),
                      frozenset())  # fmt: skip


def test_buses_and_models_os_traits_names_only():
    features = GuestFeatures(
        disk_buses=frozenset({"virtio", "sd", "scsi"}),
        video_models=frozenset({"virtio", "ramfb"}),
        secure_boot=True,
    )

    assert guest_traits(features) == {
        "COMPUTE_STORAGE_BUS_VIRTIO",
        "COMPUTE_STORAGE_BUS_SCSI",
        "COMPUTE_GRAPHICS_MODEL_VIRTIO",
        "COMPUTE_SECURITY_UEFI_SECURE_BOOT",
    }
    owned = owned_guest_traits(features)
    assert "COMPUTE_STORAGE_BUS_IDE" in owned and "COMPUTE_GRAPHICS_MODEL_QXL" in owned
    assert guest_traits(features) <= owned


def test_unknown_features_give_and_own_nothing():
    assert guest_traits(None) == owned_guest_traits(None) == frozenset()
    assert sev_children(ROOT, None) == ()


def test_sev_child():
    (child,) = sev_children(ROOT, GuestFeatures(sev=True, sev_max_guests=15))

    assert child.name == "compute-1_amd_sev" and child.parent == ROOT.uuid
    assert [i.as_placement() for i in child.inventories] == [
        {"total": 15, "reserved": 0, "min_unit": 1, "max_unit": 1, "step_size": 1,
         "allocation_ratio": 1.0}
    ]  # fmt: skip
    assert child.traits == {"HW_CPU_X86_AMD_SEV"}
    assert sev_children(ROOT, GuestFeatures(sev=True, sev_max_guests=15))[0].uuid == child.uuid


def test_sev_without_guests_said_or_none_has_no_child():
    assert sev_children(ROOT, GuestFeatures(sev=True, sev_max_guests=None)) == ()
    assert sev_children(ROOT, GuestFeatures(sev=True, sev_max_guests=0)) == ()
