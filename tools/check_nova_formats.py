#!/usr/bin/env python3
"""Check the device columns against Nova's own code. Needs `nova`, which is never our
dependency: run it with a throwaway virtualenv's python, from the checkout's root:

    python3 -m venv /tmp/nova-venv && /tmp/nova-venv/bin/pip install nova
    /tmp/nova-venv/bin/python tools/check_nova_formats.py

It uses only our pure modules (no libvirt, no database): the sample host
tests/fixtures/hosts/devices.xml is read with our node device and domain parsers, offered
by tests/support/device_specs.py DEVICES_HOST. One line per check; exit status 1 if any fails.
1. device_spec: each entry of device_specs.CASES offers, through Nova's Whitelist, the
   devices ours offers (Nova asks sysfs whether an address is a PF: it is told from the
   sample devices instead).
2. pci_devices: each row we would write loads into Nova's PciDevice (_from_db_object, as
   from the table) with the same field values.
3. pci_stats: from_pci_stats (how ComputeNode reads the column) loads ours into a
   PciDevicePoolList; Nova's PciDeviceStats, given the available rows as PciDevice
   objects and the same device_spec, builds the same pools.
4. the scheduler's side: PciDeviceStats built from our column answers support_requests.
"""

from __future__ import annotations

import json
import os
import sys
import uuid

from lxml import etree

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from nova import context as nova_context  # noqa: E402
from nova import objects  # noqa: E402
from nova.pci import devspec, whitelist  # noqa: E402
from nova.pci import stats as nova_stats  # noqa: E402

from resource_tracker.audit import device_spec, devices, nova_format  # noqa: E402
from resource_tracker.resources import HostDevices, HostDevUse  # noqa: E402
from resource_tracker.virt.libvirt import hostdevs, nodedev  # noqa: E402
from tests.support import device_specs  # noqa: E402

HOST_FILE = os.path.join(ROOT, "tests", "fixtures", "hosts", "devices.xml")
SHUT_OFF = "{http://libvirt.org/schemas/domain/test/1.0}runstate"
failures = 0


def check(name: str, ok: bool, detail: str = "") -> None:
    global failures
    failures += not ok
    print(f"{'ok  ' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}")


def sample_host():
    with open(HOST_FILE) as host_file:
        root = etree.fromstring(host_file.read().replace("@EXTRA@", "").encode())
    parsed = [nodedev.parse_node_device(etree.tostring(d)) for d in root.iterfind("device")]
    pci, types, mdevs = nodedev.inventory(parsed)
    users = [
        HostDevUse(
            domain_uuid=dom.findtext("uuid"),
            domain=dom.findtext("name"),
            active=dom.findtext(SHUT_OFF) != "5",
            pci=hostdevs.pci_addresses(dom.find("devices")),
            mdevs=hostdevs.mdev_uuids(dom.find("devices")),
        )
        for dom in root.iterfind("domain")
    ]
    return HostDevices(pci, types, mdevs), users


def nova_is_pf(pfs):
    def is_physical_function(domain, bus, slot, function):
        return f"{domain}:{bus}:{slot}.{function}" in pfs

    return is_physical_function


def check_device_specs() -> None:
    pfs = {d.address for d in device_specs.DEVICES if d.dev_type == "type-PF"}
    devspec.utils.is_physical_function = nova_is_pf(pfs)
    for entry, _expected in device_specs.CASES:
        nova = whitelist.Whitelist([entry])
        offered = [d.address for d in device_specs.DEVICES if nova.device_assignable(_dict(d))]
        ours = device_specs.matched(entry)
        check(f"device_spec {entry}", offered == ours, f"Nova {offered}, ours {ours}")


def _dict(device) -> dict:
    return {
        "vendor_id": device.vendor_id,
        "product_id": device.product_id,
        "address": device.address,
        "parent_addr": device.parent_addr,
        "capabilities": {"vpd": {"card_serial_number": device.card_serial_number}},
    }


def load_rows(states) -> list:
    """Our pci_devices values as Nova's PciDevice objects, loaded as from the table."""
    context = nova_context.get_admin_context()
    loaded = []
    for index, state in enumerate(states, start=1):
        row = dict(vars_of(nova_format.pci_device_values(state)))
        db_row = row | {
            "id": index,
            "uuid": str(uuid.uuid4()),
            "compute_node_id": 1,
            "request_id": None,
            "created_at": None,
            "updated_at": None,
            "deleted_at": None,
            "deleted": 0,
        }
        device = objects.PciDevice._from_db_object(context, objects.PciDevice(), db_row)
        same = all(
            getattr(device, key) == (json.loads(value) if key == "extra_info" else value)
            for key, value in row.items()
        )
        check(f"pci_devices row {row['address']} loads into PciDevice 1.7", same, repr(row))
        loaded.append(device)
    return loaded


def vars_of(record) -> dict:
    return {name: getattr(record, name) for name in record.__slots__}


def pool_set(pool_list) -> list:
    return sorted(
        json.dumps([p.vendor_id, p.product_id, p.numa_node, dict(sorted(p.tags.items())), p.count])
        for p in pool_list
    )


def check_pools(states, loaded) -> str:
    column = nova_format.pci_stats(devices.pools(states))
    ours = objects.pci_device_pool.from_pci_stats(column)
    check("pci_stats loads with from_pci_stats", isinstance(ours, objects.PciDevicePoolList))
    nova = nova_stats.PciDeviceStats(
        None, dev_filter=whitelist.Whitelist(device_specs.DEVICES_HOST)
    )
    for device, state in zip(loaded, states, strict=True):
        if state.status == devices.AVAILABLE:
            nova.add_device(device)
    nova_pools = nova.to_device_pools_obj()
    same = pool_set(ours) == pool_set(nova_pools)
    check(
        "Nova's PciDeviceStats builds the same pools", same, "\n  " + "\n  ".join(pool_set(ours))
    )
    primitive = json.loads(json.dumps(nova_pools.obj_to_primitive()))
    ours = json.loads(column)
    check(
        "our column has the keys of Nova's own primitive",
        _keys(primitive) == _keys(ours),
        f"Nova {sorted(_keys(primitive))}",
    )
    check(
        "and its nova_object.changes",
        _changes(primitive) == _changes(ours),
        f"Nova {_changes(primitive)}, ours {_changes(ours)}",
    )
    return column


def _keys(primitive) -> set[str]:
    """Every key path of a primitive (nova_object.changes too, since nova_format writes it as
    obj_to_primitive() does), with list items merged."""
    found = set()

    def walk(value, path):
        if isinstance(value, dict):
            for key, item in value.items():
                if not (path.endswith("tags") and key):
                    found.add(f"{path}.{key}")
                    walk(item, f"{path}.{key}")
        elif isinstance(value, list):
            for item in value:
                walk(item, f"{path}[]")

    walk(primitive, "")
    return found


def _changes(primitive) -> list:
    """The list's nova_object.changes, then each pool's, sorted (Nova builds them from sets)."""
    pools = primitive["nova_object.data"]["objects"]
    return [sorted(primitive.get("nova_object.changes", []))] + [
        sorted(pool.get("nova_object.changes", [])) for pool in pools
    ]


def check_scheduler(column: str) -> None:
    pools = objects.pci_device_pool.from_pci_stats(column)
    stats = nova_stats.PciDeviceStats(None, stats=pools, dev_filter=whitelist.Whitelist([]))
    for spec, count, expected in (
        ({"vendor_id": "8086", "product_id": "10ed", "physical_network": "physnet1"}, 1, True),
        ({"vendor_id": "8086", "product_id": "10ed"}, 2, False),
        ({"vendor_id": "144d", "product_id": "a808"}, 2, True),
        ({"vendor_id": "144d", "product_id": "a808"}, 3, False),
        ({"vendor_id": "8086", "product_id": "10fb"}, 1, False),
        ({"vendor_id": "8086", "product_id": "a182"}, 1, False),
    ):
        request = objects.InstancePCIRequest(
            count=count, spec=[spec], request_id=str(uuid.uuid4())
        )
        answer = stats.support_requests([request], provider_mapping=None)
        check(f"scheduler: {count} x {spec} fits: {expected}", answer == expected, str(answer))


def main() -> int:
    objects.register_all()
    check_device_specs()
    host, users = sample_host()
    specs = device_spec.parse(device_specs.DEVICES_HOST)
    states = [s for s in devices.device_states(host, users, specs) if s.spec is not None]
    pfs = {d.address for d in host.pci if d.dev_type == "type-PF"}
    devspec.utils.is_physical_function = nova_is_pf(pfs)
    loaded = load_rows(states)
    column = check_pools(states, loaded)
    check_scheduler(column)
    print(f"{failures} failed" if failures else "all checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
