"""Node device XML as libvirt writes it, read into PCI, mdev type and mdev records."""

from __future__ import annotations

import pytest

from resource_tracker.resources import Mdev, MdevType, PciDevice
from resource_tracker.virt.libvirt.nodedev import (
    DeviceXMLError,
    NodeDevice,
    inventory,
    parse_node_device,
)

PF = """
<device>
  <name>pci_0000_81_00_0</name>
  <path>/sys/devices/pci0000:80/0000:80:01.0/0000:81:00.0</path>
  <parent>pci_0000_80_01_0</parent>
  <driver><name>ixgbe</name></driver>
  <capability type='pci'>
    <class>0x020000</class>
    <domain>0</domain>
    <bus>129</bus>
    <slot>0</slot>
    <function>0</function>
    <product id='0x10fb'>82599ES 10-Gigabit SFI/SFP+ Network Connection</product>
    <vendor id='0x8086'>Intel Corporation</vendor>
    <capability type='virt_functions' maxCount='63'>
      <address domain='0x0000' bus='0x81' slot='0x10' function='0x0'/>
      <address domain='0x0000' bus='0x81' slot='0x10' function='0x2'/>
    </capability>
    <iommuGroup number='40'>
      <address domain='0x0000' bus='0x81' slot='0x00' function='0x0'/>
    </iommuGroup>
    <numa node='1'/>
    <pci-express>
      <link validity='cap' port='0' speed='5' width='8'/>
      <link validity='sta' speed='5' width='8'/>
    </pci-express>
  </capability>
</device>
"""

VF = """
<device>
  <name>pci_0000_81_10_2</name>
  <path>/sys/devices/pci0000:80/0000:80:01.0/0000:81:10.2</path>
  <parent>pci_0000_80_01_0</parent>
  <driver><name>ixgbevf</name></driver>
  <capability type='pci'>
    <class>0x020000</class>
    <domain>0</domain>
    <bus>129</bus>
    <slot>16</slot>
    <function>2</function>
    <product id='0x10ed'>82599 Ethernet Controller Virtual Function</product>
    <vendor id='0x8086'>Intel Corporation</vendor>
    <capability type='phys_function'>
      <address domain='0x0000' bus='0x81' slot='0x00' function='0x0'/>
    </capability>
    <iommuGroup number='42'>
      <address domain='0x0000' bus='0x81' slot='0x10' function='0x2'/>
    </iommuGroup>
    <numa node='1'/>
  </capability>
</device>
"""

# As the suite's real libvirtd lists a virtio device of this virtual machine.
VIRTIO = """
<device>
  <name>pci_0000_00_04_0</name>
  <path>/sys/devices/pci0000:00/0000:00:04.0</path>
  <parent>computer</parent>
  <driver>
    <name>virtio-pci</name>
  </driver>
  <capability type='pci'>
    <class>0xffff00</class>
    <domain>0</domain>
    <bus>0</bus>
    <slot>4</slot>
    <function>0</function>
    <product id='0x1053'/>
    <vendor id='0x1af4'/>
  </capability>
</device>
"""

GPU = """
<device>
  <name>pci_0000_3b_00_0</name>
  <parent>pci_0000_3a_00_0</parent>
  <capability type='pci'>
    <class>0x030200</class>
    <domain>0</domain><bus>59</bus><slot>0</slot><function>0</function>
    <product id='0x1eb8'>TU104GL [Tesla T4]</product>
    <vendor id='0x10de'>NVIDIA Corporation</vendor>
    <capability type='mdev_types'>
      <type id='nvidia-222'>
        <name>GRID T4-4Q</name>
        <deviceAPI>vfio-pci</deviceAPI>
        <availableInstances>1</availableInstances>
      </type>
      <type id='nvidia-223'>
        <deviceAPI>vfio-pci</deviceAPI>
        <availableInstances>0</availableInstances>
      </type>
    </capability>
    <iommuGroup number='12'>
      <address domain='0x0000' bus='0x3b' slot='0x00' function='0x0'/>
    </iommuGroup>
    <numa node='0'/>
  </capability>
</device>
"""

MDEV = """
<device>
  <name>mdev_4b20d080_1b54_4048_85b3_a6a62d165c01_0000_3b_00_0</name>
  <path>/sys/devices/pci0000:3a/0000:3a:00.0/0000:3b:00.0/4b20d080-1b54-4048-85b3-a6a62d165c01</path>
  <parent>pci_0000_3b_00_0</parent>
  <driver><name>nvidia-vgpu-vfio</name></driver>
  <capability type='mdev'>
    <type id='nvidia-222'/>
    <uuid>4b20d080-1b54-4048-85b3-a6a62d165c01</uuid>
    <iommuGroup number='13'/>
  </capability>
</device>
"""

# libvirt before 7.3 wrote no <uuid>: it is in the name
OLD_MDEV = """
<device>
  <name>mdev_5C31E191_2C65_4159_96C4_B7B73E276D12</name>
  <parent>pci_0000_3b_00_0</parent>
  <capability type='mdev'><type id='nvidia-222'/><iommuGroup number='14'/></capability>
</device>
"""

# an s390 channel subsystem device: mdev types on a parent that is no PCI device
CSS = """
<device>
  <name>css_0_0_0052</name>
  <parent>computer</parent>
  <capability type='css'>
    <cssid>0x0</cssid><ssid>0x0</ssid><devno>0x0052</devno>
    <capability type='mdev_types'>
      <type id='vfio_ccw-io'>
        <name>I/O subchannel (Non-QDIO)</name>
        <deviceAPI>vfio-ccw</deviceAPI>
        <availableInstances>1</availableInstances>
      </type>
    </capability>
  </capability>
</device>
"""

VPD_VF = """
<device>
  <name>pci_0000_82_00_3</name>
  <parent>pci_0000_80_02_0</parent>
  <capability type='pci'>
    <domain>0</domain><bus>130</bus><slot>0</slot><function>3</function>
    <product id='0x101e'/>
    <vendor id='0x15b3'/>
    <capability type='phys_function'>
      <address domain='0x0000' bus='0x82' slot='0x00' function='0x0'/>
    </capability>
    <capability type='vpd'>
      <name>BlueField-2 DPU 25GbE Dual-Port SFP56</name>
      <fields access='readonly'>
        <change_level>B1</change_level>
        <part_number>MBF2H332A-AEEOT</part_number>
        <serial_number>MT2113X00000</serial_number>
      </fields>
    </capability>
  </capability>
</device>
"""


def test_sr_iov_pf():
    device = parse_node_device(PF)

    assert device.pci == PciDevice(
        name="pci_0000_81_00_0",
        address="0000:81:00.0",
        vendor_id="8086",
        product_id="10fb",
        dev_type="type-PF",
        class_id="0x020000",
        numa_node=1,
        iommu_group=40,
        vf_addrs=("0000:81:10.0", "0000:81:10.2"),
    )
    assert device.parent == "pci_0000_80_01_0"
    assert device.mdev_types == () and device.mdev is None


def test_sr_iov_vf_names_its_pf():
    device = parse_node_device(VF).pci

    assert device.address == "0000:81:10.2"
    assert device.dev_type == "type-VF"
    assert device.parent_addr == "0000:81:00.0"
    assert (device.vendor_id, device.product_id, device.iommu_group) == ("8086", "10ed", 42)


def test_a_device_without_numa_iommu_or_names_is_plain_pci():
    device = parse_node_device(VIRTIO).pci

    assert device == PciDevice(
        name="pci_0000_00_04_0",
        address="0000:00:04.0",
        vendor_id="1af4",
        product_id="1053",
        dev_type="type-PCI",
        class_id="0xffff00",
    )


def test_pf_capable_of_sr_iov_without_vfs_enabled_is_a_pf():
    """As Nova: the virt_functions capability alone (sriov_totalvfs > 0) makes a PF."""
    xml = PF.replace(
        PF[PF.index("<capability type='virt_functions'") : PF.index("<iommuGroup")],
        "<capability type='virt_functions' maxCount='63'/>",
    )

    device = parse_node_device(xml).pci

    assert device.dev_type == "type-PF"
    assert device.vf_addrs == ()


def test_vpd_card_serial_number():
    assert parse_node_device(VPD_VF).pci.card_serial_number == "MT2113X00000"
    assert parse_node_device(VF).pci.card_serial_number is None


def test_mdev_types_of_a_gpu():
    device = parse_node_device(GPU)

    assert device.mdev_types == (
        MdevType("0000:3b:00.0", "nvidia-222", "GRID T4-4Q", "vfio-pci", 1),
        MdevType("0000:3b:00.0", "nvidia-223", None, "vfio-pci", 0),
    )
    assert device.pci.dev_type == "type-PCI"


def test_mdev_types_of_a_device_that_is_not_pci_are_keyed_by_its_name():
    device = parse_node_device(CSS)

    assert device.pci is None
    assert device.mdev_types == (
        MdevType("css_0_0_0052", "vfio_ccw-io", "I/O subchannel (Non-QDIO)", "vfio-ccw", 1),
    )


def test_mdev_uuid_from_its_element_or_from_its_name():
    assert parse_node_device(MDEV).mdev == Mdev(
        "4b20d080-1b54-4048-85b3-a6a62d165c01", "pci_0000_3b_00_0", "nvidia-222"
    )
    assert parse_node_device(OLD_MDEV).mdev.uuid == "5c31e191-2c65-4159-96c4-b7b73e276d12"


def test_inventory_names_an_mdev_parent_by_its_pci_address():
    devices = [parse_node_device(xml) for xml in (MDEV, VF, GPU, OLD_MDEV, PF)]

    pci, types, mdevs = inventory(devices)

    assert [device.address for device in pci] == ["0000:3b:00.0", "0000:81:00.0", "0000:81:10.2"]
    assert [t.type_id for t in types] == ["nvidia-222", "nvidia-223"]
    assert mdevs == (
        Mdev("4b20d080-1b54-4048-85b3-a6a62d165c01", "0000:3b:00.0", "nvidia-222"),
        Mdev("5c31e191-2c65-4159-96c4-b7b73e276d12", "0000:3b:00.0", "nvidia-222"),
    )


def test_an_mdev_whose_parent_is_not_listed_keeps_the_parent_name():
    (_pci, _types, mdevs) = inventory([parse_node_device(MDEV)])

    assert mdevs[0].parent == "pci_0000_3b_00_0"


def test_ids_written_without_0x_are_hex_as_libvirt_reads_them():
    xml = VIRTIO.replace("id='0x1053'", "id='1053'").replace("<slot>4</slot>", "<slot>0x1f</slot>")

    device = parse_node_device(xml).pci

    assert device.product_id == "1053"
    assert device.address == "0000:00:1f.0"


def test_numa_node_minus_one_means_none():
    xml = VIRTIO.replace("</function>", "</function><numa node='-1'/>")

    assert parse_node_device(xml).pci.numa_node is None


def test_an_odd_class_is_left_out_not_fatal():
    xml = VIRTIO.replace("0xffff00", "network")

    assert parse_node_device(xml).pci.class_id is None


def test_a_device_of_another_kind_has_no_records():
    xml = """<device><name>usb_1_1</name><parent>usb_usb1</parent>
    <capability type='usb_device'><bus>1</bus><device>2</device>
    <product id='0x0001'/><vendor id='0x1d6b'/></capability></device>"""

    device = parse_node_device(xml)

    assert device == NodeDevice("usb_1_1", "usb_usb1")
    assert not device.kept


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (("<vendor id='0x1af4'/>", ""), "no vendor id"),
        (("<product id='0x1053'/>", "<product>virtio</product>"), "no product id"),
        (("id='0x1af4'", "id='0x11af4'"), "vendor id '0x11af4' is out of range"),
        (("id='0x1053'", "id='0xzz'"), "product id '0xzz' is not a number"),
        (("id='0x1053'", "id='-0x1'"), "product id '-0x1' is not a number"),
        (("<slot>4</slot>", "<slot>40</slot>"), "PCI slot '40' is out of range"),
        (("<function>0</function>", "<function>8</function>"), "PCI function '8' is out of range"),
        (("<bus>0</bus>", ""), "bus '' is not a number"),
        (("<bus>0</bus>", "<bus>1_0</bus>"), "bus '1_0' is not a number"),
        (("<bus>0</bus>", "<bus> +1</bus>"), "bus '+1' is not a number"),
        (("<domain>0</domain>", "<domain>65536</domain>"), "PCI domain '65536' is out of range"),
        (("</function>", "</function><numa node='one'/>"), "NUMA node 'one' is not a number"),
        (("</function>", "</function><iommuGroup/>"), "IOMMU group '' is not a number"),
        (("<name>pci_0000_00_04_0</name>", ""), "no <device> with a <name>"),
        (("</device>", ""), "not XML"),
        (("pci_0000_00_04_0", "p" * 256), "name of 256 characters is longer than 255"),
    ],
)
def test_device_xml_that_cannot_be_used_raises_naming_why(change, reason):
    xml = VIRTIO.replace(*change)
    assert xml != VIRTIO

    with pytest.raises(DeviceXMLError, match=reason.replace("(", r"\(").replace("+", r"\+")):
        parse_node_device(xml)


@pytest.mark.parametrize(
    ("xml", "change", "reason"),
    [
        (GPU, ("<availableInstances>1", "<availableInstances>lots"), "availableInstances of nv"),
        (GPU, ("<availableInstances>1", "<availableInstances>-1"), "availableInstances of nv"),
        (GPU, ("type id='nvidia-222'", "type"), "an mdev type without an id"),
        (MDEV, ("<type id='nvidia-222'/>", ""), "an mdev without a type"),
        (MDEV, ("<parent>pci_0000_3b_00_0</parent>", ""), "an mdev without a parent"),
        (OLD_MDEV, ("mdev_5C31E191_2C65", "mdev_5C31E191"), "without a valid UUID"),
        (PF, ("bus='0x81' slot='0x10' function='0x2'", "bus='0x81' slot='0x10'"), "function"),
        (VPD_VF, ("MT2113X00000", "M" * 256), "VPD serial number of 256 characters is longer"),
    ],
)
def test_mdev_and_sr_iov_xml_that_cannot_be_used(xml, change, reason):
    changed = xml.replace(*change)
    assert changed != xml

    with pytest.raises(DeviceXMLError, match=reason):
        parse_node_device(changed)


def test_entities_are_not_expanded():
    xml = '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + (
        VIRTIO.replace("<parent>computer</parent>", "<parent>&x;</parent>")
    )

    device = parse_node_device(xml)

    assert "root" not in (device.parent or "")
