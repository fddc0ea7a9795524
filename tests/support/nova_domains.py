"""Domain XML with the `<nova:instance>` metadata exactly as Nova 34 writes it: made by Nova's
own LibvirtConfigGuest and LibvirtConfigGuestMetaNova* classes (nova/virt/libvirt/config.py),
fed what driver.py `_get_guest_config_meta` feeds them, in Nova's throwaway virtualenv."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from tests.support import nova

GENERATE = """
import json, sys
from nova import objects
from nova.virt import driver
from nova.virt.libvirt import config as vconfig

objects.register_all()
xmls = []
for d in json.load(sys.stdin):
    meta = vconfig.LibvirtConfigGuestMetaNovaInstance()
    meta.package = "34.0.0"
    meta.name = d["display_name"]
    meta.creationTime = 1764979200
    meta.roottype, meta.rootid = "image", d["image"]
    image = vconfig.LibvirtConfigGuestMetaImage()
    image.uuid = d["image"]
    image.image_meta = driver.ImageMeta(
        id=d["image"], name="cirros", container_format="bare", disk_format="qcow2",
        min_disk=1, min_ram=0,
        properties=objects.ImageMetaProps.from_dict(d["properties"]).to_dict(),
    )
    meta.image = image
    owner = vconfig.LibvirtConfigGuestMetaNovaOwner()
    owner.userid, owner.username = d["user"], "alice"
    owner.projectid, owner.projectname = d["project"], "demo"
    meta.owner = owner
    flavor = vconfig.LibvirtConfigGuestMetaNovaFlavor()
    flavor.name, flavor.id = d["flavor"], "42"
    flavor.memory, flavor.vcpus, flavor.disk = d["memory_mb"], d["vcpus"], d["disk_gb"]
    flavor.ephemeral, flavor.swap = d["ephemeral_gb"], d["swap_mb"]
    flavor.extra_specs = {"hw:cpu_policy": "shared"}
    meta.flavor = flavor
    meta.ports = vconfig.LibvirtConfigGuestMetaNovaPorts([
        vconfig.LibvirtConfigGuestMetaNovaPort(
            "9c0b6a5c-1111-4a8e-9b2c-3a1d2c3b4d5e",
            ips=[vconfig.LibvirtConfigGuestMetaNovaIp("fixed", "10.0.0.5", 4)],
        )
    ])
    guest = vconfig.LibvirtConfigGuest()
    guest.virt_type = "test"
    guest.name, guest.uuid = d["name"], d["uuid"]
    guest.memory, guest.vcpus = d["memory_mb"] * 1024, d["vcpus"]
    guest.os_type = "hvm"
    guest.metadata.append(meta)
    xmls.append(guest.to_xml())
print(json.dumps(xmls))
"""


@dataclass(frozen=True)
class NovaGuest:
    """One instance as Nova knows it: what goes into its domain's metadata."""

    name: str
    uuid: str
    project: str
    user: str = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
    display_name: str = "web"
    image: str = "155d900f-4e14-4e4c-a73d-069cbf4541e6"
    properties: dict = field(default_factory=lambda: {"os_type": "linux"})
    flavor: str = "m1.small"
    vcpus: int = 1
    memory_mb: int = 512
    disk_gb: int = 20
    ephemeral_gb: int = 0
    swap_mb: int = 0


def domain_xml(*guests: NovaGuest) -> list[str]:
    """The domain XML Nova 34 writes for each guest (its test driver type)."""
    return nova.run(GENERATE, [asdict(guest) for guest in guests])
