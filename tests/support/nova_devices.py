"""Nova's libvirt driver and PCI tracker on node device XML: what Nova 34 would make of a
host's devices (pci_devices rows' extra_info, dev_type, the pools), for the tests that
compare ours with it.

Nova reads part of a device's facts from sysfs (a VF's PF interface, the PF's MAC, the VF's
number, whether an address is a PF); fake_sysfs() writes the tree a kernel would show for
the node devices libvirt reports (libvirt builds those from that sysfs), and the script
below points Nova's reads of /sys/bus/pci/devices at it. Nova's own functions run unchanged.
"""

from __future__ import annotations

import os
from pathlib import Path

from lxml import etree

from tests.support import nova

SCRIPT = r"""
import builtins, glob, json, os, sys
payload = json.load(sys.stdin)
from nova import context, objects
from nova.pci import stats, whitelist
from nova.virt.libvirt import driver as libvirt_driver, host as libvirt_host
objects.register_all()

REAL, ROOT = "/sys/bus/pci/devices", payload["sysfs"]
def fake(path):
    path = os.fspath(path)
    return ROOT + path[len(REAL):] if isinstance(path, str) and path.startswith(REAL) else path
_open, _listdir, _isdir, _iglob, _readlink = (
    builtins.open, os.listdir, os.path.isdir, glob.iglob, os.readlink)
builtins.open = lambda path, *a, **k: _open(fake(path), *a, **k)
os.listdir = lambda path=".": _listdir(fake(path))
os.path.isdir = lambda path: _isdir(fake(path))
os.readlink = lambda path, *a, **k: _readlink(fake(path), *a, **k)
glob.iglob = lambda path, *a, **k: (REAL + p[len(ROOT):] for p in _iglob(fake(path), *a, **k))

class NodeDevice:
    def __init__(self, d): self.d = d
    def name(self): return self.d["name"]
    def parent(self): return self.d["parent"]
    def XMLDesc(self, flags): return self.d["xml"]
    def listCaps(self): return self.d["caps"]

# the venv has no libvirt binding: only the flags' names and the error class are used
import types
libvirt_driver.libvirt = types.SimpleNamespace(
    VIR_CONNECT_LIST_NODE_DEVICES_CAP_NET=1, VIR_CONNECT_LIST_NODE_DEVICES_CAP_PCI_DEV=2,
    VIR_CONNECT_LIST_NODE_DEVICES_CAP_VDPA=4, libvirtError=RuntimeError)
host = libvirt_host.Host.__new__(libvirt_host.Host)
host.list_all_devices = lambda flags=0: [NodeDevice(d) for d in payload["devices"]]
driver = type("Driver", (), {})()
driver._host = host
reported = json.loads(
    libvirt_driver.LibvirtDriver._get_pci_passthrough_devices.__wrapped__(driver))
if payload.get("placement"):  # before the device_spec, which one_time_use checks it for
    from nova import conf as nova_conf
    nova_conf.CONF([], project="nova", default_config_files=[])
    nova_conf.CONF.set_override("report_in_placement", True, group="pci")
spec_filter = whitelist.Whitelist(payload["device_spec"])
pools = stats.PciDeviceStats(None, dev_filter=spec_filter)
rows, created = {}, []
for dev in reported:
    spec = spec_filter.device_assignable(dev)
    if spec is None:
        continue
    spec.enhanced_pci_device_with_spec_tags(dev)
    device = objects.PciDevice.create(context.get_admin_context(), dev)
    device.instance_uuid = payload["allocated"].get(device.address)
    created.append(device)
    rows[device.address] = {
        "dev_type": device.dev_type, "parent_addr": device.parent_addr,
        "extra_info": device.extra_info,
    }
    if device.address in payload["available"]:
        pools.add_device(device)
children = None
if payload.get("placement"):  # Nova's [pci] report_in_placement view of the same devices
    import types
    from nova.compute import pci_placement_translator, provider_tree
    tracker = types.SimpleNamespace(pci_devs=created, dev_filter=spec_filter, stats=pools)
    tree = provider_tree.ProviderTree()
    tree.new_root("node", "00000000-0000-4000-8000-000000000001")
    pci_placement_translator.update_provider_tree_for_pci(tree, "node", tracker, {}, [])
    children = {}
    for uuid in tree.get_provider_uuids("node")[1:]:
        data = tree.data(uuid)
        children[data.name] = {"inventory": data.inventory, "traits": sorted(data.traits)}
print(json.dumps({
    "children": children,
    "rows": rows,
    "pools": sorted(
        ([p.vendor_id, p.product_id, p.numa_node, p.tags, p.count]
         for p in pools.to_device_pools_obj()), key=json.dumps),
}))
"""


def node_devices(xml_texts) -> list[dict]:
    """What Nova's driver asks of each device: name, parent, listCaps() (top level), XML."""
    found = []
    for xml in xml_texts:
        root = etree.fromstring(xml.encode())
        found.append(
            {
                "name": root.findtext("name"),
                "parent": root.findtext("parent"),
                "caps": [cap.get("type") for cap in root.iterfind("capability")],
                "xml": xml,
            }
        )
    return found


def fake_sysfs(root: Path, devices: list[dict]) -> None:
    """/sys/bus/pci/devices as the kernel shows it for these node devices: a directory per
    PCI function, a PF's sriov_totalvfs and virtfnN links in its virt_functions order, a
    VF's physfn link, and net/<interface>/address under the function an interface is on."""
    addresses = {}
    for device in devices:
        cap = etree.fromstring(device["xml"].encode()).find("capability[@type='pci']")
        if cap is None:
            continue
        parts = [int(cap.findtext(f), 0) for f in ("domain", "bus", "slot", "function")]
        address = "{:04x}:{:02x}:{:02x}.{:x}".format(*parts)
        addresses[device["name"]] = address
        (root / address).mkdir(parents=True)
        vfs = cap.find("capability[@type='virt_functions']")
        if vfs is not None:
            listed = [_address(a) for a in vfs.iterfind("address")]
            (root / address / "sriov_totalvfs").write_text(f"{len(listed)}\n")
            for number, vf in enumerate(listed):
                os.symlink(f"../{vf}", root / address / f"virtfn{number}")
        pf = cap.find("capability[@type='phys_function']/address")
        if pf is not None:
            os.symlink(f"../{_address(pf)}", root / address / "physfn")
    for device in devices:
        net = etree.fromstring(device["xml"].encode()).find("capability[@type='net']")
        if net is not None and device["parent"] in addresses:
            interface = root / addresses[device["parent"]] / "net" / net.findtext("interface")
            interface.mkdir(parents=True)
            (interface / "address").write_text(net.findtext("address") + "\n")


def _address(element) -> str:
    parts = [int(element.get(f), 16) for f in ("domain", "bus", "slot", "function")]
    return "{:04x}:{:02x}:{:02x}.{:x}".format(*parts)


def nova_view(
    tmp_path: Path,
    devices: list[dict],
    device_spec,
    available,
    placement: bool = False,
    allocated: dict[str, str] | None = None,
) -> dict:
    """Nova's rows (by address: dev_type, parent_addr, extra_info) and pools
    ([vendor, product, numa, tags, count], sorted) for these node devices; with `placement`
    also its [pci] report_in_placement providers (children: name -> inventory, traits).
    `allocated`: the instance holding each device so (by address)."""
    sysfs = tmp_path / "sysfs"
    fake_sysfs(sysfs, devices)
    payload = {
        "sysfs": str(sysfs),
        "devices": devices,
        "device_spec": list(device_spec),
        "available": sorted(available),
        "placement": placement,
        "allocated": allocated or {},
    }
    return nova.run(SCRIPT, payload)
