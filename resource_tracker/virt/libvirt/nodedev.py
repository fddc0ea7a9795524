"""libvirt node device XML -> records: PCI functions, mediated device types, mdevs.

Pure: text in, records out, no libvirt call. Device XML is input we check: a device whose
XML lacks what the records need, or holds values out of range (a vendor id of 5 digits, a
PCI slot of 40), raises DeviceXMLError naming the reason, and costs that device only.

What is read, as Nova's libvirt driver reads it:
- `<capability type='pci'>`: domain, bus, slot, function (decimal, or hex with 0x) make
  the address `dddd:bb:ss.f`; `<vendor id>`, `<product id>` (hex) four lower-case digits;
  `<class>`, `<numa node>`, `<iommuGroup number>` when present.
- The kind, from the first of these sub-capabilities: `virt_functions` (SR-IOV capable,
  with or without VFs enabled) makes a type-PF, `phys_function` with an address a type-VF
  whose parent_addr is that address; neither, a type-PCI.
- `<capability type='vpd'>`: the card serial number (remote_managed devices need one).
  A name or serial longer than the pci_devices columns hold (255, as Nova's `dev_id`;
  a VPD field has at most 255 bytes) is refused, never cut or sent for the database to
  refuse the whole row.
- `<capability type='mdev_types'>` (of a PCI device, or of a CSS or AP matrix device):
  each `<type id>` with its `<name>`, `<deviceAPI>`, `<availableInstances>`.
- `<capability type='mdev'>`: `<type id>`, and the UUID from `<uuid>` or, before libvirt
  7.3, from the device name (`mdev_<uuid with _>[_<parent>]`).
- `<capability type='net'>` (a network interface, `net_<name>_<mac>`, whose parent is the
  PCI function it runs on): `<interface>`, `<address>` (its MAC), `<feature name>`s.
- `<capability type='vdpa'>`: a vDPA device; its parent VF is Nova's type `vdpa`.

inventory() links them as Nova's libvirt driver does (host.py `_get_pcidev_info`), where
Nova reads sysfs and we read the same facts from libvirt's net node devices, which libvirt
builds from that sysfs:
- a VF with an interface of its own gets `parent_ifname`, its PF's interface
  (`get_ifname_by_pci_address(vf, pf_interface=True)`: the VF's physfn/net/); a VF that is
  a vDPA device's parent becomes type `vdpa` (keeping parent_addr and parent_ifname);
- a type-VF (not vdpa) gets `network_features`, its own interface's features
  (`_get_pcinet_info`), and, when its PF has an interface, `pf_mac_address` (that
  interface's MAC) and `vf_num`, its index in the PF's `virt_functions` list, which libvirt
  reads from virtfn0, virtfn1, ... in order (Nova: the N of the PF's virtfnN link to it);
- a type-VF without a VPD serial number takes its PF's (`_get_vpd_details`);
- a PF with an interface gets its `mac_address` (`_get_pf_details`).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from dataclasses import dataclass

from lxml import etree

from resource_tracker.resources import (
    PCI_ADDRESS_FIELDS,
    TYPE_PCI,
    TYPE_PF,
    TYPE_VDPA,
    TYPE_VF,
    Mdev,
    MdevType,
    PciDevice,
)

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_DIGITS = {
    8: re.compile(r"[0-7]+"),
    10: re.compile(r"[0-9]+"),
    16: re.compile(r"[0-9a-fA-F]+"),
}
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
LONGEST_TEXT = 255


class DeviceXMLError(ValueError):
    """A node device's XML that cannot be used."""


@dataclass(frozen=True, slots=True)
class NetInterface:
    """A network interface (`<capability type='net'>`) of the PCI function that is its parent."""

    interface: str
    mac_address: str | None
    features: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class NodeDevice:
    """One node device: what it is (a PCI function, an mdev, a network interface, a vDPA
    device) and the mdev types it offers.

    `mdev.parent` is still the parent's node device name here; inventory() resolves it.
    """

    name: str
    parent: str | None
    pci: PciDevice | None = None
    mdev_types: tuple[MdevType, ...] = ()
    mdev: Mdev | None = None
    net: NetInterface | None = None
    vdpa: bool = False

    @property
    def kept(self) -> bool:
        """Whether the device is one inventory() uses."""
        return bool(self.pci or self.mdev or self.mdev_types or self.net or self.vdpa)

    @property
    def key(self) -> str:
        """How a parent is named in MdevType and Mdev: its PCI address, else its name."""
        return self.pci.address if self.pci is not None else self.name


def parse_node_device(xml: str | bytes) -> NodeDevice:
    """Read one node device's XML; DeviceXMLError if it cannot be used."""
    try:
        root = etree.fromstring(xml.encode() if isinstance(xml, str) else xml, _PARSER)
    except etree.XMLSyntaxError as error:
        raise DeviceXMLError(f"not XML: {error}") from None
    name = (root.findtext("name") or "").strip()
    if root.tag != "device" or not name:
        raise DeviceXMLError("no <device> with a <name>")
    _refuse_long_text(name, "name")
    parent = (root.findtext("parent") or "").strip() or None
    pci_cap = root.find("capability[@type='pci']")
    pci = _pci_device(name, pci_cap) if pci_cap is not None else None
    key = pci.address if pci is not None else name
    types = tuple(_mdev_type(key, element) for element in _mdev_type_elements(root))
    mdev_cap = root.find("capability[@type='mdev']")
    mdev = _mdev(name, parent, mdev_cap) if mdev_cap is not None else None
    net_cap = root.find("capability[@type='net']")
    net = _net(net_cap) if net_cap is not None and parent is not None else None
    vdpa = root.find("capability[@type='vdpa']") is not None and parent is not None
    return NodeDevice(name, parent, pci, types, mdev, net, vdpa)


def inventory(devices) -> tuple[tuple[PciDevice, ...], tuple[MdevType, ...], tuple[Mdev, ...]]:
    """The PCI functions, mdev types and mdevs of `devices` (NodeDevices), sorted; each
    mdev's parent named as its parent device is keyed (its PCI address, if it has one)."""
    keys = {device.name: device.key for device in devices}
    pci = sorted(_linked(devices), key=lambda d: d.address)
    types = sorted(
        (mdev_type for device in devices for mdev_type in device.mdev_types),
        key=lambda t: (t.parent, t.type_id),
    )
    mdevs = sorted(
        (
            Mdev(
                device.mdev.uuid,
                keys.get(device.mdev.parent, device.mdev.parent),
                device.mdev.type_id,
            )
            for device in devices
            if device.mdev is not None
        ),
        key=lambda m: (m.parent, m.type_id, m.uuid),
    )
    return tuple(pci), tuple(types), tuple(mdevs)


def _linked(devices: Iterable[NodeDevice]) -> list[PciDevice]:
    """The PCI functions with what their interfaces, vDPA devices and PF tell of them."""
    devices = list(devices)
    nets: dict[str, NetInterface] = {}  # parent's node device name: its interface
    for device in sorted(devices, key=lambda d: d.name, reverse=True):
        if device.net is not None and device.parent is not None:
            nets[device.parent] = device.net  # of two, the first by name, every time
    vdpa_parents = {device.parent for device in devices if device.vdpa}
    functions = {d.pci.address: d for d in devices if d.pci is not None}
    linked = []
    for device in devices:
        if device.pci is not None:
            linked.append(_link(device.name, device.pci, nets, vdpa_parents, functions))
    return linked


def _link(name, pci: PciDevice, nets, vdpa_parents, functions) -> PciDevice:
    own = nets.get(name)
    if pci.dev_type == TYPE_PF:
        return dataclasses.replace(pci, mac_address=own.mac_address if own else None)
    if pci.dev_type != TYPE_VF or pci.parent_addr is None:
        return pci
    pf_device = functions.get(pci.parent_addr)
    pf_net = nets.get(pf_device.name) if pf_device is not None else None
    pf = pf_device.pci if pf_device is not None else None
    parent_ifname = pf_net.interface if own is not None and pf_net is not None else None
    if name in vdpa_parents:
        return dataclasses.replace(pci, dev_type=TYPE_VDPA, parent_ifname=parent_ifname)
    sriov = {}
    if pf is not None and pf_net is not None and pf_net.mac_address and pci.address in pf.vf_addrs:
        sriov = {
            "pf_mac_address": pf_net.mac_address,
            "vf_num": pf.vf_addrs.index(pci.address),
        }
    return dataclasses.replace(
        pci,
        parent_ifname=parent_ifname,
        network_features=own.features if own is not None else (),
        card_serial_number=pci.card_serial_number or (pf.card_serial_number if pf else None),
        **sriov,
    )


def pci_address(domain: str, bus: str, slot: str, function: str) -> str:
    """`dddd:bb:ss.f` from the four fields as libvirt writes them (decimal, or 0x hex)."""
    values = (domain, bus, slot, function)
    parts = []
    for (field, largest, width), text in zip(PCI_ADDRESS_FIELDS, values, strict=True):
        number = c_integer(text, field)
        if number > largest:
            raise DeviceXMLError(f"PCI {field} {text!r} is out of range")
        parts.append(f"{number:0{width}x}")
    return "{}:{}:{}.{}".format(*parts)


def address_of(element) -> str:
    """The address of an `<address domain bus slot function>` element."""
    return pci_address(*(element.get(field) for field, _, _ in PCI_ADDRESS_FIELDS))


def c_integer(text: str | None, what: str) -> int:
    """A non-negative integer as libvirt reads one (strtoul, base 0: 0x hex, 0 octal)."""
    text = (text or "").strip()
    try:
        if text[:2].lower() == "0x":
            return _digits(text[2:], 16)
        if len(text) > 1 and text.startswith("0"):
            return _digits(text[1:], 8)
        return _digits(text, 10)
    except ValueError:
        raise DeviceXMLError(f"{what} {text!r} is not a number") from None


def _digits(text: str, base: int) -> int:
    if not _DIGITS[base].fullmatch(text):  # int() would take signs, blanks and underscores
        raise ValueError(text)
    return int(text, base)


def _pci_device(name: str, cap) -> PciDevice:
    address = pci_address(*(cap.findtext(field) for field, _, _ in PCI_ADDRESS_FIELDS))
    vendor_id = _hex_id(cap.find("vendor"), "vendor")
    product_id = _hex_id(cap.find("product"), "product")
    dev_type, parent_addr = TYPE_PCI, None
    for sub in cap.iterfind("capability"):
        if sub.get("type") == "virt_functions":
            dev_type = TYPE_PF
            break
        if sub.get("type") == "phys_function" and sub.find("address") is not None:
            dev_type, parent_addr = TYPE_VF, address_of(sub.find("address"))
            break
    vfs = cap.find("capability[@type='virt_functions']")
    iommu = cap.find("iommuGroup")
    numa = cap.find("numa")
    return PciDevice(
        name=name,
        address=address,
        vendor_id=vendor_id,
        product_id=product_id,
        dev_type=dev_type,
        class_id=_class_id(cap.findtext("class")),
        numa_node=_numa_node(numa.get("node")) if numa is not None else None,
        iommu_group=c_integer(iommu.get("number"), "IOMMU group") if iommu is not None else None,
        parent_addr=parent_addr,
        vf_addrs=tuple(address_of(a) for a in vfs.iterfind("address")) if vfs is not None else (),
        card_serial_number=_vpd_serial(cap.find("capability[@type='vpd']")),
    )


def _hex_id(element, what: str) -> str:
    """libvirt reads vendor and product ids as hex, with or without 0x."""
    text = (element.get("id") or "").strip() if element is not None else ""
    if not text:
        raise DeviceXMLError(f"no {what} id")
    try:
        number = _digits(text[2:] if text[:2].lower() == "0x" else text, 16)
    except ValueError:
        raise DeviceXMLError(f"{what} id {text!r} is not a number") from None
    if number > 0xFFFF:
        raise DeviceXMLError(f"{what} id {text!r} is out of range")
    return f"{number:04x}"


def _class_id(text: str | None) -> str | None:
    """`0x020000`; a class that is missing or does not parse is left out, not fatal."""
    try:
        number = c_integer(text, "class")
    except DeviceXMLError:
        return None
    return f"0x{number:06x}" if number <= 0xFFFFFF else None


def _numa_node(text: str | None) -> int | None:
    """libvirt leaves the element out for node -1 (none); anything else must be a number."""
    if text is not None and text.strip() == "-1":
        return None
    return c_integer(text, "NUMA node")


def _vpd_serial(cap) -> str | None:
    if cap is None:
        return None
    serial = cap.findtext("fields[@access='readonly']/serial_number")
    return (_refuse_long_text(serial.strip(), "VPD serial number") or None) if serial else None


def _refuse_long_text(text: str, what: str) -> str:
    """`text` as it is; DeviceXMLError if it is longer than LONGEST_TEXT."""
    if len(text) > LONGEST_TEXT:
        raise DeviceXMLError(f"{what} of {len(text)} characters is longer than {LONGEST_TEXT}")
    return text


def _mdev_type_elements(root):
    """`<capability type='mdev_types'>` sits in the PCI capability, or at the top (CSS, AP)."""
    return root.iterfind(".//capability[@type='mdev_types']/type")


def _mdev_type(parent: str, element) -> MdevType:
    type_id = (element.get("id") or "").strip()
    if not type_id:
        raise DeviceXMLError("an mdev type without an id")
    return MdevType(
        parent=parent,
        type_id=type_id,
        name=(element.findtext("name") or "").strip() or None,
        device_api=(element.findtext("deviceAPI") or "").strip() or None,
        available_instances=c_integer(
            element.findtext("availableInstances"), f"availableInstances of {type_id}"
        ),
    )


def _net(cap) -> NetInterface | None:
    interface = (cap.findtext("interface") or "").strip()
    if not interface:
        return None
    mac = (cap.findtext("address") or "").strip().lower() or None
    features = tuple(
        _refuse_long_text(f.get("name") or "", "feature")
        for f in cap.iterfind("feature")
        if f.get("name")
    )
    return NetInterface(
        _refuse_long_text(interface, "interface"), mac and _refuse_long_text(mac, "MAC"), features
    )


def _mdev(name: str, parent: str | None, cap) -> Mdev:
    type_element = cap.find("type")
    type_id = (type_element.get("id") or "").strip() if type_element is not None else ""
    if not type_id:
        raise DeviceXMLError("an mdev without a type")
    if parent is None:
        raise DeviceXMLError("an mdev without a parent")
    uuid = (cap.findtext("uuid") or "").strip().lower()
    if not uuid and name.startswith("mdev_"):
        uuid = name[len("mdev_") : len("mdev_") + 36].replace("_", "-").lower()
    if not _UUID.fullmatch(uuid):
        raise DeviceXMLError(f"an mdev without a valid UUID ({uuid or name!r})")
    return Mdev(uuid=uuid, parent=parent, type_id=type_id)
