"""device_spec entries and the devices each offers: the unit tests check ours against these,
tools/check_nova_formats.py Nova's own devspec."""

from __future__ import annotations

from resource_tracker.audit import device_spec
from resource_tracker.resources import PciDevice

PF = PciDevice("pci_0000_81_00_0", "0000:81:00.0", "8086", "10fb", "type-PF", numa_node=1)
VF = PciDevice(
    "pci_0000_81_10_2", "0000:81:10.2", "8086", "10ed", "type-VF", parent_addr="0000:81:00.0"
)
OTHER_VF = PciDevice(
    "pci_0000_82_10_0", "0000:82:10.0", "8086", "10ed", "type-VF", parent_addr="0000:82:00.0"
)
NVME = PciDevice("pci_0000_5e_00_0", "0000:5e:00.0", "144d", "a808", "type-PCI")
GPU = PciDevice("pci_0000_3b_00_0", "0000:3b:00.0", "10de", "1eb8", "type-PCI")
SERIAL_VF = PciDevice(
    "pci_0000_82_00_3",
    "0000:82:00.3",
    "15b3",
    "101e",
    "type-VF",
    parent_addr="0000:82:00.0",
    card_serial_number="MT2113X00000",
)
DEVICES = (PF, VF, OTHER_VF, NVME, GPU, SERIAL_VF)


# (entry, addresses of DEVICES it offers)
# fmt: off
CASES = [
    ('{"vendor_id": "8086", "product_id": "10ed"}', ["0000:81:10.2", "0000:82:10.0"]),
    ('{"vendor_id": "8086"}', ["0000:81:00.0", "0000:81:10.2", "0000:82:10.0"]),
    ('{"vendor_id": " 8086 ", "product_id": "0x10FB"}', ["0000:81:00.0"]),
    ('{"product_id": "*", "vendor_id": "*", "address": "*:*:*.*"}', [d.address for d in DEVICES]),
    ('{"address": "*:81:10.*"}', ["0000:81:10.2"]),
    ('{"address": ":81:10."}', ["0000:81:10.2"]),
    ('{"address": "81:"}', ["0000:81:00.0", "0000:81:10.2"]),
    ('{"address": ".2"}', ["0000:81:10.2"]),
    ('{"address": "0:5e:0.0"}', ["0000:5e:00.0"]),
    ('{"address": ""}', [d.address for d in DEVICES]),
    # a PF named by its full address offers its VFs as well
    ('{"address": "0000:81:00.0"}', ["0000:81:00.0", "0000:81:10.2"]),
    ('{"address": "0000:81:00.0", "product_id": "10ed"}', ["0000:81:10.2"]),
    ('{"address": {"domain": "0000", "bus": "81", "slot": "00", "function": "0"}}',
     ["0000:81:00.0", "0000:81:10.2"]),
    ('{"address": {"bus": "8[12]", "slot": "10", "function": "[0-2]"}}',
     ["0000:81:10.2", "0000:82:10.0"]),
    ('{"address": {"bus": "8"}}', ["0000:81:00.0", "0000:81:10.2", "0000:82:10.0",
                                   "0000:82:00.3"]),  # re.match: at the start only
    ('{"address": {"bus": "5e$"}}', ["0000:5e:00.0"]),
    ('{"vendor_id": "10de", "address": {}}', ["0000:3b:00.0"]),
    ('[{"vendor_id": "144d"}, {"vendor_id": "10de", "physical_network": null}]',
     ["0000:5e:00.0", "0000:3b:00.0"]),
    ('{"vendor_id": "15b3", "remote_managed": "true"}', ["0000:82:00.3"]),
    ('{"vendor_id": "8086", "remote_managed": "yes"}', []),  # no serial number; PF never
    ('{"vendor_id": "8086", "remote_managed": "nonsense"}',
     ["0000:81:00.0", "0000:81:10.2", "0000:82:10.0"]),
    ('{"vendor_id": "ffff"}', []),
]
# fmt: on


def matched(*entries: str) -> list[str]:
    """The addresses of DEVICES our device_spec offers with `entries`."""
    specs = device_spec.parse(entries)
    return [d.address for d in DEVICES if device_spec.offering(specs, d) is not None]


# What tests/fixtures/hosts/devices.xml offers: its VFs with a tag, its PF (and so its VFs,
# already offered by the first), its NVMe drives; not its SATA controller nor its GPU.
DEVICES_HOST = [
    '{"vendor_id": "8086", "product_id": "10ed", "physical_network": "physnet1"}',
    '{"address": "0000:81:00.0", "resource_class": "CUSTOM_NIC", "traits": "A,B"}',
    '{"vendor_id": "144d", "product_id": "a808", "managed": "yes"}',
]
