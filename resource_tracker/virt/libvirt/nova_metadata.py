"""Nova's `<metadata><nova:instance>` in a domain's XML, as Nova's libvirt driver writes it
(nova/virt/libvirt/driver.py `_get_guest_config_meta`, config.py
`LibvirtConfigGuestMetaNova*`, namespace 1.1):

    <nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/1.1">
      <nova:package version="..."/> <nova:name>...</nova:name> <nova:creationTime>...
      <nova:flavor name="m1.small" id="2"><nova:memory>2048</nova:memory>
        <nova:disk>20</nova:disk><nova:swap>0</nova:swap><nova:ephemeral>0</nova:ephemeral>
        <nova:vcpus>1</nova:vcpus><nova:extraSpecs>...</nova:extraSpecs></nova:flavor>
      <nova:image uuid="..."><nova:properties><nova:property name="os_type">linux</...>
      <nova:owner><nova:user uuid="...">name</nova:user>
        <nova:project uuid="...">name</nova:project></nova:owner>
      <nova:root type="image" uuid="..."/> <nova:ports>...</nova:ports>
    </nova:instance>

Anyone who can define a domain writes this, so it is untrusted: a part that does not parse
(an id that is not one, a number out of range, a missing element) is left out, alone; the
rest of the metadata, and the domain, stand.
"""

from __future__ import annotations

import re

from resource_tracker.resources import NovaFlavor, NovaInstance

NOVA_NS = "http://openstack.org/xmlns/libvirt/nova/1.1"
_N = f"{{{NOVA_NS}}}"
# Keystone ids (user, project): up to 64 characters (a UUID's hex without dashes by
# default); the image's is a UUID. Either ends up in a stats key, so nothing else passes.
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_COUNT = re.compile(r"[0-9]{1,10}")
_NAME_MAX = 255  # Nova's flavor name column
_INT_MAX = 2**31 - 1  # Nova's flavor columns are INT
OS_TYPES = frozenset({"linux", "windows"})  # nova.objects.fields.OSType.ALL
THREAD_POLICIES = frozenset({"prefer", "isolate", "require"})  # fields.CPUThreadAllocationPolicy


def parse(metadata) -> NovaInstance | None:
    """The `<nova:instance>` under a domain's `<metadata>` element; None if there is none."""
    if metadata is None:
        return None
    instance = metadata.find(f"{_N}instance")
    if instance is None:
        return None
    owner = instance.find(f"{_N}owner")
    image = instance.find(f"{_N}image")
    os_type, os_type_known = _os_type(image)
    return NovaInstance(
        flavor=_flavor(instance.find(f"{_N}flavor")),
        project_id=_id(owner, "project"),
        user_id=_id(owner, "user"),
        image_id=_id_of(image),
        os_type=os_type,
        os_type_known=os_type_known,
    )


def _flavor(element) -> NovaFlavor | None:
    if element is None:
        return None
    name = element.get("name")
    if name is not None and not (0 < len(name) <= _NAME_MAX and name.isprintable()):
        name = None
    return NovaFlavor(
        name=name,
        vcpus=_count(element, "vcpus"),
        memory_mb=_count(element, "memory"),
        disk_gb=_count(element, "disk"),
        swap_mb=_count(element, "swap"),
        ephemeral_gb=_count(element, "ephemeral"),
        cpu_thread_policy=_thread_policy(element),
    )


def _thread_policy(flavor) -> str | None:
    """The flavor's hw:cpu_thread_policy extra spec, one of Nova's values or None."""
    for spec in flavor.iterfind(f"{_N}extraSpecs/{_N}extraSpec"):
        if spec.get("name") == "hw:cpu_thread_policy":
            value = (spec.text or "").strip()
            return value if value in THREAD_POLICIES else None
    return None


def _count(parent, tag: str) -> int | None:
    text = (parent.findtext(f"{_N}{tag}") or "").strip()
    if not _COUNT.fullmatch(text):
        return None
    value = int(text)
    return value if value <= _INT_MAX else None


def _id(owner, tag: str) -> str | None:
    return _id_of(owner.find(f"{_N}{tag}")) if owner is not None else None


def _id_of(element) -> str | None:
    value = element.get("uuid") if element is not None else None
    return value if value is not None and _ID.fullmatch(value) else None


def _os_type(image) -> tuple[str | None, bool]:
    """(os_type, known): Nova sets the instance's os_type from the image's property at boot
    (compute/api.py), None where the image has none."""
    properties = image.find(f"{_N}properties") if image is not None else None
    if properties is None:
        return None, False
    for prop in properties.iterfind(f"{_N}property"):
        if prop.get("name") == "os_type":
            value = (prop.text or "").strip().lower()
            return (value, True) if value in OS_TYPES else (None, False)
    return None, True
