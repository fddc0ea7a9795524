"""[pci] device_spec read and matched as Nova reads and matches it."""

from __future__ import annotations

import re

import pytest

from resource_tracker.audit import device_spec
from resource_tracker.audit.device_spec import DeviceSpecError
from tests.support.device_specs import CASES, NVME, PF, VF, matched


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
        ('{"vendor_id": "8086", "one_time_use": true}', "requires \\[pci\\] report_in_placement"),
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


def test_why_a_device_is_not_offered():
    from resource_tracker.audit.device_spec import parse, why_not_offered
    from tests.support.device_specs import NVME, PF, SERIAL_VF, VF

    remote = parse(['{"vendor_id": "8086", "remote_managed": "true"}'])
    named = parse(['{"vendor_id": "144d", "address": "0000:5f:00.0"}', '{"address": "*:82:"}'])

    assert why_not_offered((), NVME) == "[pci] device_spec is empty"
    assert why_not_offered(remote, PF) == (
        "device_spec entry 1 matches it but is remote_managed, which offers no PF"
    )
    assert why_not_offered(remote, VF) == (
        "device_spec entry 1 matches it but is remote_managed, and the device's VPD has no "
        "card serial number"
    )
    assert why_not_offered(named, NVME) == (
        "no device_spec entry matches (entry 1 has its ids, not its address)"
    )
    assert why_not_offered(named, PF) == "no device_spec entry matches"
    assert why_not_offered(named, SERIAL_VF) is None  # offered (by entry 2)


def test_one_time_use_with_pci_in_placement():
    (spec,) = device_spec.parse(['{"vendor_id": "8086", "one_time_use": "yes"}'], True)
    assert dict(spec.tags) == {"one_time_use": "true"}
    (spec,) = device_spec.parse(['{"vendor_id": "8086", "one_time_use": false}'])
    assert dict(spec.tags) == {"one_time_use": "false"}
