"""[pci] report_in_placement children for one_time_use devices, as Nova 34's translator
makes them (tests/functional/test_nova_devices.py compares with Nova's own)."""

import logging
import uuid

from resource_tracker.audit import device_spec
from resource_tracker.audit.devices import ALLOCATED, AVAILABLE, DeviceState
from resource_tracker.audit.pci_providers import ONE_TIME_USE, pci_children
from resource_tracker.placement.records import ProviderReport
from tests.support.device_specs import GPU, NVME, OTHER_VF

ROOT = ProviderReport(str(uuid.uuid4()), "node", (), frozenset(), frozenset())


def offered(entry: str, *states: tuple) -> list[DeviceState]:
    (spec,) = device_spec.parse([entry], in_placement=True)
    return [DeviceState(device, status, "i-1" if status == ALLOCATED else None, spec)
            for device, status in states]  # fmt: skip


def test_a_one_time_use_device_is_reserved_while_a_domain_holds_it():
    entry = '{"vendor_id": "*", "one_time_use": true, "resource_class": "GPU"}'
    children = pci_children(ROOT, offered(entry, (GPU, ALLOCATED), (NVME, AVAILABLE)), set())
    by_name = {child.name: child for child in children}
    held, free = by_name["node_0000:3B:00.0"], by_name["node_0000:5E:00.0"]
    assert ONE_TIME_USE in held.traits and ONE_TIME_USE in free.traits
    assert [(i.total, i.reserved) for i in held.inventories] == [(1, 1)]
    assert [(i.total, i.reserved) for i in free.inventories] == [(1, 0)]
    assert held.kept_reserved == {"CUSTOM_GPU"}  # reserved is otherwise the operator's


def test_one_time_use_false_adds_nothing():
    children = pci_children(ROOT, offered('{"vendor_id": "*", "one_time_use": "no"}',
                                          (GPU, ALLOCATED)), set())  # fmt: skip
    assert ONE_TIME_USE not in children[0].traits
    assert children[0].inventories[0].reserved == 0


def test_a_vf_with_one_time_use_is_left_out_as_nova_refuses_it(caplog):
    said: set[str] = set()
    entry = '{"vendor_id": "8086", "one_time_use": false}'
    with caplog.at_level(logging.WARNING):
        assert pci_children(ROOT, offered(entry, (OTHER_VF, AVAILABLE)), said) == ()
        assert pci_children(ROOT, offered(entry, (OTHER_VF, AVAILABLE)), said) == ()
    assert [r.getMessage() for r in caplog.records] == [
        "[pci] report_in_placement: one_time_use is set for 0000:82:10.0, not a PF or PCI "
        "device; left out (Nova refuses it)"
    ]
