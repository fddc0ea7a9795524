"""Network interfaces and vDPA devices linked to their PCI functions, as Nova's host.py
`_get_pcidev_info` sees them (through sysfs there, libvirt's net node devices here)."""

from __future__ import annotations

from resource_tracker.virt.libvirt.nodedev import inventory, parse_node_device

PF = """<device><name>pci_0000_81_00_0</name><parent>computer</parent>
<capability type='pci'><domain>0</domain><bus>129</bus><slot>0</slot><function>0</function>
<product id='0x1017'/><vendor id='0x15b3'/>{vpd}
<capability type='virt_functions' maxCount='8'>
<address domain='0x0000' bus='0x81' slot='0x00' function='0x2'/>
<address domain='0x0000' bus='0x81' slot='0x00' function='0x1'/>
</capability></capability></device>"""
VPD = """<capability type='vpd'><name>ConnectX</name><fields access='readonly'>
<serial_number>MT2113X00000</serial_number></fields></capability>"""


def vf(function: int) -> str:
    return f"""<device><name>pci_0000_81_00_{function}</name><parent>computer</parent>
<capability type='pci'><domain>0</domain><bus>129</bus><slot>0</slot>
<function>{function}</function><product id='0x1018'/><vendor id='0x15b3'/>
<capability type='phys_function'>
<address domain='0x0000' bus='0x81' slot='0x00' function='0x0'/></capability>
</capability></device>"""


def net(interface: str, parent: str, mac: str, features=("rx", "tx")) -> str:
    found = "".join(f"<feature name='{name}'/>" for name in features)
    return f"""<device><name>net_{interface}_{mac.replace(":", "_")}</name>
<parent>{parent}</parent><capability type='net'><interface>{interface}</interface>
<address>{mac}</address><link state='up'/>{found}<capability type='80203'/>
</capability></device>"""


def vdpa(parent: str) -> str:
    return f"""<device><name>vdpa_vdpa0</name><parent>{parent}</parent>
<driver><name>vhost_vdpa</name></driver>
<capability type='vdpa'><chardev>/dev/vhost-vdpa-0</chardev></capability></device>"""


def linked(*xml: str, vpd: str = ""):
    devices = [parse_node_device(PF.format(vpd=vpd))] + [parse_node_device(x) for x in xml]
    pci, _types, _mdevs = inventory(devices)
    return {device.address: device for device in pci}


def test_a_vf_with_an_interface_gets_its_pfs_interface_mac_and_its_vf_number():
    found = linked(
        vf(1),
        vf(2),
        net("ens1f0", "pci_0000_81_00_0", "B8:CE:F6:00:00:01"),
        net("ens1f0v1", "pci_0000_81_00_1", "52:54:00:00:00:01", ("rx", "tx", "sg")),
    )

    one = found["0000:81:00.1"]
    assert one.parent_ifname == "ens1f0"
    assert one.network_features == ("rx", "tx", "sg")
    # vf_num is its place in the PF's list (virtfn0 is 00.2 here), not its function number
    assert (one.pf_mac_address, one.vf_num) == ("b8:ce:f6:00:00:01", 1)
    assert found["0000:81:00.0"].mac_address == "b8:ce:f6:00:00:01"


def test_a_vf_without_an_interface_has_no_parent_ifname_but_its_sriov_details():
    # Nova asks for parent_ifname only of a VF with a netdev; the sriov details of any VF
    found = linked(vf(2), net("ens1f0", "pci_0000_81_00_0", "b8:ce:f6:00:00:01"))

    two = found["0000:81:00.2"]
    assert (two.parent_ifname, two.network_features) == (None, ())
    assert (two.pf_mac_address, two.vf_num) == ("b8:ce:f6:00:00:01", 0)


def test_a_pf_without_an_interface_gives_its_vfs_no_sriov_details():
    found = linked(vf(1), net("ens1f0v1", "pci_0000_81_00_1", "52:54:00:00:00:01"))

    one = found["0000:81:00.1"]
    assert (one.parent_ifname, one.pf_mac_address, one.vf_num) == (None, None, None)
    assert one.network_features == ("rx", "tx")
    assert found["0000:81:00.0"].mac_address is None


def test_a_vf_under_a_vdpa_device_is_a_vdpa_device_with_no_network_details():
    found = linked(
        vf(1),
        net("ens1f0", "pci_0000_81_00_0", "b8:ce:f6:00:00:01"),
        net("ens1f0v1", "pci_0000_81_00_1", "52:54:00:00:00:01"),
        vdpa("pci_0000_81_00_1"),
        vpd=VPD,
    )

    one = found["0000:81:00.1"]
    assert (one.dev_type, one.parent_addr, one.parent_ifname) == ("vdpa", "0000:81:00.0", "ens1f0")
    assert (one.network_features, one.pf_mac_address, one.card_serial_number) == ((), None, None)


def test_a_vf_without_vpd_takes_its_pfs_card_serial_number():
    assert linked(vf(1), vpd=VPD)["0000:81:00.1"].card_serial_number == "MT2113X00000"
