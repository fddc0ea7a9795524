"""The capability and guest-model traits Nova 34's libvirt driver derives from its options
and libvirt's and QEMU's versions (tests/functional/test_nova_placement.py checks them
against Nova's own code on the test driver)."""

import dataclasses

import pytest

from resource_tracker.audit.capability_traits import capability_traits, image_type_traits
from resource_tracker.audit.devices import DeviceUse, Pool
from resource_tracker.audit.driver_settings import DriverSettings, has_min_version, version
from resource_tracker.audit.model_traits import model_traits
from resource_tracker.resources import GuestFeatures
from tests.unit.audit.test_tracker import RESOURCES

HOST = dataclasses.replace(RESOURCES, libvirt_version=version(10, 4), hypervisor_version=8002000)
OLD = dataclasses.replace(RESOURCES, libvirt_version=version(8, 0), hypervisor_version=6002000)
UNKNOWN = dataclasses.replace(RESOURCES, libvirt_version=None)


def on(found) -> set[str]:
    return {trait for trait, value in found.items() if value}


BASE = {"AKI", "ARI", "AMI", "RAW", "ISO"}


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (DriverSettings(), BASE | {"QCOW2"}),
        (DriverSettings(images_type="rbd"), BASE | {"QCOW2"}),
        (DriverSettings(images_type="lvm", force_raw_images=False), BASE),
        (DriverSettings(images_type="qcow2", force_raw_images=False), BASE | {"QCOW2"}),
        (
            DriverSettings(virt_type="parallels", image_type_exclude_list=("iso", "aki")),
            {"ARI", "AMI", "RAW", "QCOW2", "PLOOP"},
        ),
    ],
)
def test_image_types_follow_the_back_end_and_the_exclude_list(settings, expected):
    found = image_type_traits(settings)
    assert on(found) == {f"COMPUTE_IMAGE_TYPE_{kind}" for kind in expected}
    assert len(found) == 7  # the others Nova's libvirt driver never names: left as they are


def test_versions_compare_as_novas_has_min_version():
    assert has_min_version(HOST, version(10, 4), version(8, 2), "QEMU") is True
    assert has_min_version(HOST, version(10, 4, 1)) is False
    assert has_min_version(HOST, hypervisor=version(8, 2, 1)) is False
    assert has_min_version(HOST, version(8, 0), hypervisor_type="TEST") is False
    assert has_min_version(UNKNOWN, version(8, 0)) is None
    assert has_min_version(UNKNOWN, hypervisor=version(8, 0)) is True


def test_version_dependent_capabilities():
    new, old = (
        capability_traits(HOST, DriverSettings(), None),
        capability_traits(OLD, DriverSettings(), None),
    )
    for trait in ("COMPUTE_ADDRESS_SPACE_PASSTHROUGH", "COMPUTE_SECURITY_STATELESS_FIRMWARE"):
        assert (new[trait], old[trait]) == (True, False)
    assert new["COMPUTE_STORAGE_VIRTIO_FS"] and old["COMPUTE_STORAGE_VIRTIO_FS"]
    assert new["COMPUTE_REMOTE_MANAGED_PORTS"] is None  # devices not read: unknown
    assert (
        capability_traits(UNKNOWN, DriverSettings(), None)["COMPUTE_ADDRESS_SPACE_EMULATED"]
        is None
    )
    assert new["COMPUTE_RESCUE_BFV"] and new["COMPUTE_EPHEMERAL_ENCRYPTION"] is False


def test_remote_managed_ports_need_a_pool_of_remote_managed_devices():
    def pools(value):
        tags = (("dev_type", "type-VF"), ("remote_managed", value))
        return DeviceUse((), (Pool("15b3", "101e", 0, tags, 1),), ())

    found = capability_traits(HOST, DriverSettings(), pools("true"))
    assert found["COMPUTE_REMOTE_MANAGED_PORTS"] is True
    found = capability_traits(HOST, DriverSettings(), pools("false"))
    assert found["COMPUTE_REMOTE_MANAGED_PORTS"] is False


def test_vif_models_by_virt_type_and_version():
    kvm = on(model_traits(HOST, DriverSettings()))
    assert {"COMPUTE_NET_VIF_MODEL_VIRTIO", "COMPUTE_NET_VIF_MODEL_SPAPR_VLAN",
            "COMPUTE_NET_VIF_MODEL_IGB"} <= kvm  # fmt: skip
    assert "COMPUTE_NET_VIF_MODEL_LAN9118" not in kvm
    assert "COMPUTE_NET_VIF_MODEL_LAN9118" in on(model_traits(HOST, DriverSettings("qemu")))
    assert model_traits(OLD, DriverSettings())["COMPUTE_NET_VIF_MODEL_IGB"] is False
    assert model_traits(UNKNOWN, DriverSettings())["COMPUTE_NET_VIF_MODEL_IGB"] is None
    lxc = model_traits(HOST, DriverSettings("lxc"))
    assert not {t for t in on(lxc) if t.startswith("COMPUTE_NET_VIF_MODEL_")}
    assert {t for t in on(lxc) if t.startswith("COMPUTE_STORAGE_BUS_")} == {
        "COMPUTE_STORAGE_BUS_LXC"
    }
    assert not {t for t in model_traits(HOST, DriverSettings()) if "STORAGE_BUS" in t}


def test_sound_and_viommu_models():
    new, old = model_traits(HOST, DriverSettings()), model_traits(OLD, DriverSettings())
    assert (new["COMPUTE_SOUND_MODEL_VIRTIO"], old["COMPUTE_SOUND_MODEL_VIRTIO"]) == (True, False)
    assert new["COMPUTE_SOUND_MODEL_ICH9"] and old["COMPUTE_NET_VIRTIO_PACKED"]
    assert (new["COMPUTE_VIOMMU_MODEL_VIRTIO"], old["COMPUTE_VIOMMU_MODEL_VIRTIO"]) == (
        True,
        False,
    )
    assert "COMPUTE_VIOMMU_MODEL_INTEL" not in new  # no domain capabilities: undecided
    known = dataclasses.replace(HOST, guest_features=GuestFeatures())
    assert model_traits(known, DriverSettings())["COMPUTE_VIOMMU_MODEL_INTEL"] is True
    assert "COMPUTE_VIOMMU_MODEL_SMMUV3" not in model_traits(known, DriverSettings())
