"""What a domain's XML assigns to it from the host: PCI functions and mediated devices.

- PCI: `<hostdev mode='subsystem' type='pci'>` and `<interface type='hostdev'>` (how Nova
  attaches SR-IOV ports), each naming the function by `<source><address>`.
- mdev: `<hostdev mode='subsystem' type='mdev'>` with `<source><address uuid>`.
A device element that cannot be read is left out (a domain is never lost to one); an
`<interface type='network'>` of a hostdev network pool names no address in the XML and
is not counted.
"""

from __future__ import annotations

import logging

from resource_tracker.virt.libvirt import nodedev

LOG = logging.getLogger(__name__)


def pci_addresses(devices) -> tuple[str, ...]:
    """The host PCI addresses a domain's `<devices>` element assigns to it, sorted."""
    if devices is None:
        return ()
    sources = [
        *devices.iterfind("hostdev[@mode='subsystem'][@type='pci']/source/address"),
        *devices.iterfind("interface[@type='hostdev']/source/address"),
    ]
    addresses = set()
    for address in sources:
        if address.get("type", "pci") != "pci":
            continue
        try:
            addresses.add(nodedev.address_of(address))
        except nodedev.DeviceXMLError as error:
            LOG.debug("a host device of a domain is left out: %s", error)
    return tuple(sorted(addresses))


def mdev_uuids(devices) -> tuple[str, ...]:
    """The mediated devices (UUIDs, lower case) a domain's `<devices>` assigns to it."""
    if devices is None:
        return ()
    found = devices.iterfind("hostdev[@mode='subsystem'][@type='mdev']/source/address")
    return tuple(sorted({uuid.lower() for a in found if (uuid := (a.get("uuid") or "").strip())}))
