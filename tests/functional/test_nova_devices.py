"""Devices as Nova 34 sees them: Nova's libvirt driver (`_get_pci_passthrough_devices`,
host.py `_get_pcidev_info`), PciDevice and PciDeviceStats fed the same node device XML as our
audit, in Nova's throwaway virtualenv (tests/support/nova.py): the same rows' dev_type,
parent_addr and extra_info (parent_ifname, capabilities.network / sriov / vpd, the PF's
mac_address), and the same pools (parent_ifname among their tags).

A real SR-IOV PF with VFs and netdevs is not available here: the network interfaces are net_*
node devices with <capability type='net'> under their PCI functions in libvirt's test
driver's host file (tests/fixtures/hosts/devices.xml), and Nova's sysfs reads are answered
from the tree a kernel would show for them (tests/support/nova_devices.py). libvirt's test
driver cannot load a vDPA node device, so the vdpa case feeds both sides the XML directly.
"""

from __future__ import annotations

import json
import uuid

import libvirt
import pytest

from resource_tracker.audit import devices, nova_format
from resource_tracker.audit.device_spec import parse
from resource_tracker.audit.pci_providers import pci_children
from resource_tracker.audit.tracker import device_use
from resource_tracker.placement.records import ProviderReport
from resource_tracker.resources import HostDevices
from resource_tracker.virt.disk import FileStorage
from resource_tracker.virt.libvirt.connection import LibvirtConnection
from resource_tracker.virt.libvirt.device_lister import LIST_FLAGS
from resource_tracker.virt.libvirt.driver import LibvirtDriver
from resource_tracker.virt.libvirt.nodedev import inventory, parse_node_device
from tests.support import hosts
from tests.support.device_specs import DEVICES_HOST
from tests.support.nova_devices import node_devices, nova_view

# Nova's flags in _get_pci_passthrough_devices
NOVA_FLAGS = (
    libvirt.VIR_CONNECT_LIST_NODE_DEVICES_CAP_NET
    | libvirt.VIR_CONNECT_LIST_NODE_DEVICES_CAP_PCI_DEV
    | libvirt.VIR_CONNECT_LIST_NODE_DEVICES_CAP_VDPA
)
NOT_NOVAS = {"class", "iommu_group"}  # extra_info keys we add, Nova's readers ignore


def ours(states) -> tuple[dict, list]:
    rows = {}
    for state in states:
        if state.spec is None:
            continue
        values = nova_format.pci_device_values(state)
        extra = json.loads(values.extra_info)
        rows[values.address] = {
            "dev_type": values.dev_type,
            "parent_addr": values.parent_addr,
            "extra_info": {key: value for key, value in extra.items() if key not in NOT_NOVAS},
        }
    column = json.loads(nova_format.pci_stats(devices.pools(states)))
    pools = sorted(
        ([p[k] for k in ("vendor_id", "product_id", "numa_node", "tags", "count")]
         for p in (o["nova_object.data"] for o in column["nova_object.data"]["objects"])),
        key=json.dumps,
    )  # fmt: skip
    return rows, pools


# the NVMe drives (one held by a domain) and the PF used once: [pci] report_in_placement
ONE_TIME_USE = [
    DEVICES_HOST[0],
    '{"address": "0000:81:00.0", "product_id": "10fb", "one_time_use": true}',
    '{"vendor_id": "144d", "product_id": "a808", "one_time_use": "yes"}',
]


def sample_host(tmp_path, device_spec=DEVICES_HOST):
    """The devices.xml host's URI, and its devices as our audit finds them."""
    uri = hosts.render("devices.xml", tmp_path, EXTRA="")
    driver = LibvirtDriver(LibvirtConnection(uri), FileStorage(str(tmp_path)))
    try:
        resources = driver.get_host_resources()
    finally:
        driver.close()
    return uri, device_use(resources, parse(device_spec, in_placement=True))


def test_the_sample_hosts_devices_as_novas_driver_and_pci_tracker_see_them(tmp_path):
    uri, use = sample_host(tmp_path)
    our_rows, our_pools = ours(use.states)
    conn = libvirt.openReadOnly(uri)
    try:
        listed = conn.listAllDevices(NOVA_FLAGS)
        assert {dev.name() for dev in listed} <= {
            dev.name() for dev in conn.listAllDevices(LIST_FLAGS)
        }  # we read every device Nova's driver reads
        xml = [dev.XMLDesc(0) for dev in listed]
    finally:
        conn.close()
    available = {s.device.address for s in use.states if s.status == devices.AVAILABLE}

    nova = nova_view(tmp_path, node_devices(xml), DEVICES_HOST, available)

    assert our_rows == nova["rows"]
    assert our_pools == nova["pools"]
    vf = our_rows["0000:81:10.2"]["extra_info"]  # what the comparison covers, said plainly
    assert vf["parent_ifname"] == "ens1f0"
    assert json.loads(vf["capabilities"])["sriov"] == {
        "pf_mac_address": "90:e2:ba:00:00:00",
        "vf_num": 1,
    }
    assert our_rows["0000:81:00.0"]["extra_info"]["mac_address"] == "90:e2:ba:00:00:00"
    assert ["8086", "10ed", 1] in [pool[:3] for pool in our_pools]


PF = """<device><name>pci_0000_65_00_0</name><parent>computer</parent>
<capability type='pci'><domain>0</domain><bus>101</bus><slot>0</slot><function>0</function>
<product id='0x101d'/><vendor id='0x15b3'/>
<capability type='vpd'><name>ConnectX-6 Dx</name><fields access='readonly'>
<serial_number>MT2113X00001</serial_number></fields></capability>
<capability type='virt_functions' maxCount='4'>
<address domain='0x0000' bus='0x65' slot='0x00' function='0x3'/>
<address domain='0x0000' bus='0x65' slot='0x00' function='0x2'/>
</capability><numa node='0'/></capability></device>"""


def vf(function: int) -> str:
    return f"""<device><name>pci_0000_65_00_{function}</name><parent>computer</parent>
<capability type='pci'><domain>0</domain><bus>101</bus><slot>0</slot>
<function>{function}</function><product id='0x101e'/><vendor id='0x15b3'/>
<capability type='phys_function'>
<address domain='0x0000' bus='0x65' slot='0x00' function='0x0'/></capability>
<numa node='0'/></capability></device>"""


def net(interface: str, parent: str, mac: str) -> str:
    return f"""<device><name>net_{interface}_{mac.replace(":", "_")}</name>
<parent>{parent}</parent><capability type='net'><interface>{interface}</interface>
<address>{mac}</address><link state='up'/>
<feature name='rx'/><feature name='tx'/><feature name='rxvlan'/>
<capability type='80203'/></capability></device>"""


VDPA = """<device><name>vdpa_vdpa0</name><parent>pci_0000_65_00_2</parent>
<driver><name>vhost_vdpa</name></driver>
<capability type='vdpa'><chardev>/dev/vhost-vdpa-0</chardev></capability></device>"""


def test_a_vdpa_device_a_remote_managed_vf_and_vf_numbers_as_nova_sees_them(tmp_path):
    xml = [
        PF,
        vf(2),
        vf(3),
        net("ens2f0np0", "pci_0000_65_00_0", "0c:42:a1:00:00:00"),
        net("ens2f0v0", "pci_0000_65_00_2", "52:54:00:65:00:02"),
        net("ens2f0v1", "pci_0000_65_00_3", "52:54:00:65:00:03"),
        VDPA,
    ]
    specs = [
        '{"vendor_id": "15b3", "product_id": "101e", "address": "0000:65:00.3",'
        ' "remote_managed": "true", "physical_network": null}',
        '{"vendor_id": "15b3", "physical_network": "physnet2"}',
    ]
    pci, types, mdevs = inventory([parse_node_device(x) for x in xml])
    states = devices.device_states(HostDevices(pci, types, mdevs), (), parse(specs))
    our_rows, our_pools = ours(states)

    nova = nova_view(tmp_path, node_devices(xml), specs, {d.address for d in pci})

    assert our_rows == nova["rows"]
    assert our_pools == nova["pools"]
    assert our_rows["0000:65:00.2"]["dev_type"] == "vdpa"
    remote = our_rows["0000:65:00.3"]["extra_info"]  # its serial number is its PF's
    assert json.loads(remote["capabilities"])["vpd"] == {"card_serial_number": "MT2113X00001"}
    assert json.loads(remote["capabilities"])["sriov"]["vf_num"] == 0


@pytest.mark.parametrize("device_spec", [DEVICES_HOST, ONE_TIME_USE])
def test_pci_devices_in_placement_as_novas_translator_makes_them(tmp_path, device_spec):
    """[pci] report_in_placement: the same child providers (name, inventory, traits) as Nova's
    pci_placement_translator makes of the same devices and device_spec (OWNER_NOVA aside:
    this is not Nova); with one_time_use, the device a domain holds reserved."""
    uri, use = sample_host(tmp_path, device_spec)
    root = ProviderReport(str(uuid.uuid4()), "node", (), frozenset(), frozenset())
    children = pci_children(root, use.offered, set())
    conn = libvirt.openReadOnly(uri)
    try:
        xml = [dev.XMLDesc(0) for dev in conn.listAllDevices(NOVA_FLAGS)]
    finally:
        conn.close()
    available = {s.device.address for s in use.states if s.status == devices.AVAILABLE}
    allocated = {
        s.device.address: s.instance_uuid
        for s in use.states
        if s.status == devices.ALLOCATED and s.instance_uuid
    }

    nova = nova_view(
        tmp_path, node_devices(xml), device_spec, available, placement=True, allocated=allocated
    )

    ours = {
        child.name: {
            "inventory": {
                i.resource_class: {"total": i.total, "max_unit": i.max_unit}
                | ({"reserved": i.reserved} if i.reserved else {})
                for i in child.inventories
            },
            "traits": sorted(child.traits),
        }
        for child in children
    }
    theirs = {
        name: {**child, "traits": [t for t in child["traits"] if t != "OWNER_NOVA"]}
        for name, child in nova["children"].items()
    }
    assert ours == theirs
    if device_spec is DEVICES_HOST:
        assert ours["node_0000:81:00.0"]["inventory"] == {
            "CUSTOM_NIC": {"total": 1, "max_unit": 1}
        }
    else:
        held = ours["node_0000:5E:00.0"]
        assert held["inventory"] == {
            "CUSTOM_PCI_144D_A808": {"total": 1, "max_unit": 1, "reserved": 1}
        }
        assert "HW_PCI_ONE_TIME_USE" in held["traits"]
