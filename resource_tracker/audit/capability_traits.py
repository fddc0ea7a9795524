"""The COMPUTE_* capability traits Nova 34's compute manager gives the root provider from its
libvirt driver's `capabilities` (nova/virt/driver.py CAPABILITY_TRAITS_MAP and
capabilities_as_traits; nova/compute/resource_tracker.py _get_traits): those the driver
always has, the image types its storage back end takes, and those libvirt's version
decides (LibvirtDriver.__init__, _update_host_specific_capabilities).

- Always: attaching interfaces and volumes (tagged too), volume extend and multi-attach,
  device tagging, trusted certificates, accelerators, boot-from-volume rescue, socket PCI
  NUMA affinity; never: cold migration to the same host, ephemeral encryption (no image
  back end of Nova 34 has LUKS).
- COMPUTE_IMAGE_TYPE_AKI, ARI, AMI, RAW, ISO; QCOW2 unless images_type is lvm or rbd with
  force_raw_images off; PLOOP with virt_type parallels; none that
  [compute] image_type_exclude_list names.
- COMPUTE_REMOTE_MANAGED_PORTS with libvirt 7.9 and a pool of remote_managed devices (the
  compute manager's rule); COMPUTE_STORAGE_VIRTIO_FS with libvirt 8.0 and QEMU 6.2;
  COMPUTE_ADDRESS_SPACE_PASSTHROUGH and _EMULATED with libvirt 8.7 on QEMU;
  COMPUTE_SECURITY_STATELESS_FIRMWARE with libvirt 8.6.

Not here: secure boot (guest_traits.py, from the domain capabilities) and
COMPUTE_MEM_BACKING_FILE ([libvirt] file_backed_memory, which also changes MEMORY_MB and is
not tracked): left as they are on the provider. A trait the installed os-traits lacks is
dropped, as Nova drops it; one whose answer is unknown (no libvirt version, no device
pools) is neither set nor removed.
"""

from __future__ import annotations

from collections.abc import Mapping

from resource_tracker.audit.devices import DeviceUse
from resource_tracker.audit.driver_settings import QEMU, DriverSettings, has_min_version, version
from resource_tracker.resources import HostResources

ALWAYS = (
    "COMPUTE_NET_ATTACH_INTERFACE",
    "COMPUTE_DEVICE_TAGGING",
    "COMPUTE_NET_ATTACH_INTERFACE_WITH_TAG",
    "COMPUTE_VOLUME_ATTACH_WITH_TAG",
    "COMPUTE_VOLUME_EXTEND",
    "COMPUTE_VOLUME_MULTI_ATTACH",
    "COMPUTE_TRUSTED_CERTS",
    "COMPUTE_ACCELERATORS",
    "COMPUTE_RESCUE_BFV",
    "COMPUTE_SOCKET_PCI_NUMA_AFFINITY",
)
NEVER = (
    "COMPUTE_SAME_HOST_COLD_MIGRATE",
    "COMPUTE_EPHEMERAL_ENCRYPTION",
    "COMPUTE_EPHEMERAL_ENCRYPTION_LUKS",
)
IMAGE_TYPE = "COMPUTE_IMAGE_TYPE_"
RAW_ONLY = ("rbd", "lvm")  # image back ends that take raw images only


def capability_traits(
    resources: HostResources, settings: DriverSettings, devices: DeviceUse | None
) -> Mapping[str, bool | None]:
    """Each trait Nova's driver has a say on: True set, False removed, None unknown."""
    found: dict[str, bool | None] = dict.fromkeys(ALWAYS, True)
    found.update(dict.fromkeys(NEVER, False))
    found.update(image_type_traits(settings))
    remote_managed = has_min_version(resources, version(7, 9))
    found["COMPUTE_REMOTE_MANAGED_PORTS"] = (
        None if devices is None or remote_managed is None else remote_managed and _remote(devices)
    )
    found["COMPUTE_STORAGE_VIRTIO_FS"] = has_min_version(resources, version(8, 0), version(6, 2))
    address_space = has_min_version(resources, version(8, 7), hypervisor_type=QEMU)
    found["COMPUTE_ADDRESS_SPACE_PASSTHROUGH"] = address_space
    found["COMPUTE_ADDRESS_SPACE_EMULATED"] = address_space
    found["COMPUTE_SECURITY_STATELESS_FIRMWARE"] = has_min_version(resources, version(8, 6))
    return found


def image_type_traits(settings: DriverSettings) -> dict[str, bool]:
    raw_only = settings.images_type in RAW_ONLY and not settings.force_raw_images
    supported = {
        "aki": True,
        "ari": True,
        "ami": True,
        "raw": True,
        "iso": True,
        "qcow2": not raw_only,
        "ploop": settings.virt_type == "parallels",
    }
    excluded = settings.image_type_exclude_list
    return {
        IMAGE_TYPE + kind.upper(): on and kind not in excluded for kind, on in supported.items()
    }


def _remote(devices: DeviceUse) -> bool:
    return any(("remote_managed", "true") in pool.tags for pool in devices.pools)
