"""[pci] device_spec read and matched as Nova reads and matches it."""

from __future__ import annotations

import re

import pytest

from resource_tracker import device_spec
from resource_tracker.device_spec import DeviceSpecError
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


def matched(*entries: str) -> list[str]:
    specs = device_spec.parse(entries)
    return [d.address for d in DEVICES if device_spec.offering(specs, d) is not None]


# (entry, addresses of DEVICES it offers); the same cases tools/check_nova_formats.py
# runs through Nova's own devspec.
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


@pytest.mark.parametrize(("entry", "offered"), CASES)
def test_what_an_entry_offers(entry, offered):
    assert matched(entry) == offered


def test_no_entry_offers_nothing():
    assert matched() == []


def test_first_matching_spec_offers_and_tags():
    specs = device_spec.parse(
        [
            '{"vendor_id": "8086", "product_id": "10ed", "physical_network": "physnet1"}',
            '{"address": "*:81:*.*", "physical_network": "physnet2", "trusted": true}',
        ]
    )

    assert dict(device_spec.offering(specs, VF).tags) == {"physical_network": "physnet1"}
    assert dict(device_spec.offering(specs, PF).tags) == {
        "physical_network": "physnet2",
        "trusted": "True",  # as Nova's string fields turn a JSON true into a string
    }
    assert device_spec.offering(specs, NVME) is None


def test_boolean_tags_are_normalized():
    (spec,) = device_spec.parse(
        ['{"vendor_id": "8086", "managed": "Yes", "live_migratable": 0, "other": "Yes"}']
    )

    assert dict(spec.tags) == {"managed": "true", "live_migratable": "false", "other": "Yes"}


def test_address_and_ids_are_normalized():
    entry = '{"vendor_id": "8086", "product_id": "ED", "address": "1:2:3.4"}'

    (spec,) = device_spec.parse([entry])

    assert (spec.vendor_id, spec.product_id) == ("8086", "00ed")
    assert spec.address == ("0001", "02", "03", "4")
    assert spec.single_address == "0001:02:03.4"


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ('{"vendor_id": "8086"', "not JSON"),
        ('"8086"', "expected a JSON object or a list of objects"),
        ('[{"vendor_id": "8086"}, 5]', "expected a JSON object or a list of objects"),
        ('{"vendor_id": "zz86"}', "vendor_id 'zz86' is not a hex number"),
        ('{"vendor_id": "18086"}', r"vendor_id '18086' is out of range \(0 to ffff\)"),
        ('{"product_id": 4334}', "product_id must be a string, not 4334"),
        ('{"address": "0000:81:00.8"}', "address function '8' is out of range"),
        ('{"address": "0000:81:20.0"}', "address slot '20' is out of range"),
        ('{"address": "0000:100:00.0"}', "address bus '100' is out of range"),
        ('{"address": "1:0000:81:00.0"}', "has more than domain:bus:slot"),
        ('{"address": "0000:8?:00.0"}', "address bus '8\\?' is not a hex number"),
        ('{"address": 5}', "neither a string nor an object"),
        ('{"address": {"bus": "[8"}}', "address bus '\\[8' is not a regular expression"),
        ('{"address": {"bus": 81}}', "address bus must be a string, not 81"),
        ('{"address": {"func": "0"}}', "address has unknown key\\(s\\) func"),
        ('{"devname": "eth0"}', "devname is not supported here"),
        ('{"vendor_id": "8086", "managed": "maybe"}', "tag managed 'maybe' is not a boolean"),
        ('{"vendor_id": "8086", "one_time_use": true}', "one_time_use needs Nova's PCI"),
        ('{"vendor_id": "8086", "physical_network": ["a"]}', "tag physical_network must be"),
    ],
)
def test_a_malformed_entry_is_refused_naming_the_option_and_entry(entry, reason):
    with pytest.raises(DeviceSpecError) as raised:
        device_spec.parse(['{"vendor_id": "144d"}', entry])

    message = str(raised.value)
    assert message.startswith(f"[pci] device_spec: entry {entry}: ")
    assert "\n" not in message
    assert re.search(reason, message), message


def test_an_entry_over_several_lines_is_named_on_one():
    with pytest.raises(DeviceSpecError, match=r'entry \{"vendor_id": "zz"\}: '):
        device_spec.parse(['{"vendor_id":\n   "zz"}'])
