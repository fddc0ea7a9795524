"""The guest-model traits Nova 34's libvirt driver reports without asking libvirt's domain
capabilities (LibvirtDriver.static_traits): what it builds into a guest, from its own tables
and libvirt's and QEMU's versions.

- COMPUTE_NET_VIRTIO_PACKED: always (_get_packed_virtqueue_traits).
- COMPUTE_NET_VIF_MODEL_<MODEL>: the NIC models of Nova's table for [libvirt] virt_type
  (nova/virt/libvirt/vif.py SUPPORTED_VIF_MODELS), igb only with libvirt 9.3 and QEMU 8.0;
  the table's other models removed (_get_vif_model_traits).
- COMPUTE_SOUND_MODEL_<MODEL>: sb16, es1370, pcspk, ac97, ich6, ich9, usb always; virtio
  with libvirt 10.4 and QEMU 8.2 (_get_sound_model_traits).
- COMPUTE_STORAGE_BUS_<BUS> for virt types other than kvm and qemu (whose buses come from
  the domain capabilities, guest_traits.py): Nova's table (nova/virt/libvirt/blockinfo.py
  SUPPORTED_DEVICE_BUSES), the table's other buses removed (_get_storage_bus_traits).
- COMPUTE_VIOMMU_MODEL_<MODEL> (_get_iommu_model_traits): auto always, virtio with libvirt
  8.3; intel where libvirt gives x86_64's domain capabilities, smmuv3 where aarch64's. The
  domain capabilities read here are the host architecture's, so only its own model is
  decided, and only while libvirt answers them (Nova would also find a foreign emulator's
  with virt_type qemu).

'-' in a name is '_' in its trait; traits the installed os-traits lacks are dropped, as Nova
drops them; an answer that needs an unknown libvirt version is neither set nor removed.
"""

from __future__ import annotations

from collections.abc import Mapping

from resource_tracker.audit.driver_settings import DriverSettings, has_min_version, version
from resource_tracker.resources import HostResources

_QEMU_VIF_MODELS = ("virtio", "ne2k_pci", "pcnet", "rtl8139", "e1000", "e1000e")
VIF_MODELS = {  # Nova 34's SUPPORTED_VIF_MODELS
    "qemu": (*_QEMU_VIF_MODELS, "lan9118", "spapr-vlan", "vmxnet3", "igb"),
    "kvm": (*_QEMU_VIF_MODELS, "spapr-vlan", "vmxnet3", "igb"),
    "lxc": (),
    "parallels": ("virtio", "rtl8139", "e1000"),
}
DEVICE_BUSES = {  # Nova 34's SUPPORTED_DEVICE_BUSES
    "qemu": ("virtio", "scsi", "ide", "usb", "fdc", "sata"),
    "kvm": ("virtio", "scsi", "ide", "usb", "fdc", "sata"),
    "lxc": ("lxc",),
    "parallels": ("ide", "scsi"),
    "xen": ("xen", "ide"),
    "uml": ("uml",),
}
DOMAIN_CAPABILITIES_BUSES = ("kvm", "qemu")
SOUND_MODELS = ("sb16", "es1370", "pcspk", "ac97", "ich6", "ich9", "usb")
VIOMMU_OF_ARCH = {"x86_64": "intel", "aarch64": "smmuv3"}


def model_traits(resources: HostResources, settings: DriverSettings) -> Mapping[str, bool | None]:
    """Each trait Nova's driver has a say on: True set, False removed, None unknown."""
    found: dict[str, bool | None] = {"COMPUTE_NET_VIRTIO_PACKED": True}
    igb = has_min_version(resources, version(9, 3), version(8, 0))
    supported = VIF_MODELS.get(settings.virt_type, ())
    for model in sorted({model for models in VIF_MODELS.values() for model in models}):
        on = model in supported
        found[_trait("COMPUTE_NET_VIF_MODEL_", model)] = igb if on and model == "igb" else on
    if settings.virt_type not in DOMAIN_CAPABILITIES_BUSES:
        buses = DEVICE_BUSES.get(settings.virt_type, ())
        for bus in sorted({bus for each in DEVICE_BUSES.values() for bus in each}):
            found[_trait("COMPUTE_STORAGE_BUS_", bus)] = bus in buses
    found.update({_trait("COMPUTE_SOUND_MODEL_", model): True for model in SOUND_MODELS})
    sound = has_min_version(resources, version(10, 4))
    found["COMPUTE_SOUND_MODEL_VIRTIO"] = (
        sound and has_min_version(resources, hypervisor=version(8, 2))
    )  # fmt: skip
    found["COMPUTE_VIOMMU_MODEL_AUTO"] = True
    found["COMPUTE_VIOMMU_MODEL_VIRTIO"] = has_min_version(resources, version(8, 3))
    own = VIOMMU_OF_ARCH.get(resources.cpu_info.arch)
    if own is not None and resources.guest_features is not None:
        found[_trait("COMPUTE_VIOMMU_MODEL_", own)] = True
    return found


def _trait(prefix: str, model: str) -> str:
    return prefix + model.replace("-", "_").upper()
