"""What Nova 34's libvirt driver decides its capability and guest-model traits by, besides
libvirt's answers: its settings (nova.conf) and the libvirt and QEMU versions, compared as
its Host.has_min_version compares them."""

from __future__ import annotations

from dataclasses import dataclass

from resource_tracker.resources import HostResources

QEMU = "QEMU"  # virConnectGetType of the QEMU driver (Nova's HV_DRIVER_QEMU)


@dataclass(frozen=True, slots=True)
class DriverSettings:
    virt_type: str = "kvm"  # [libvirt] virt_type
    images_type: str = "default"  # [libvirt] images_type
    force_raw_images: bool = True  # [DEFAULT] force_raw_images
    image_type_exclude_list: tuple[str, ...] = ()  # [compute] image_type_exclude_list


NOVA_DEFAULTS = DriverSettings()


def version(major: int, minor: int, micro: int = 0) -> int:
    """As libvirt and Nova's versionutils.convert_version_to_int number them."""
    return major * 1_000_000 + minor * 1_000 + micro


def has_min_version(
    resources: HostResources,
    libvirt: int | None = None,
    hypervisor: int | None = None,
    hypervisor_type: str | None = None,
) -> bool | None:
    """Nova's Host.has_min_version; None where the libvirt version it needs is not known."""
    if libvirt is not None:
        if resources.libvirt_version is None:
            return None
        if resources.libvirt_version < libvirt:
            return False
    if hypervisor is not None and resources.hypervisor_version < hypervisor:
        return False
    return hypervisor_type is None or resources.hypervisor_type == hypervisor_type
