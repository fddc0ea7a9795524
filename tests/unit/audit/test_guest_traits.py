"""Nova's traits from the guest features (their match with Nova's own code is
tests/functional/test_nova_placement.py); here what is Nova's choice only by our reading:
unknown features, names os-traits lacks."""

from __future__ import annotations

from resource_tracker.audit.guest_traits import guest_traits, owned_guest_traits
from resource_tracker.resources import GuestFeatures


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
