"""What resource-tracker-manage shows of devices: `devices list` (the offered devices the
trackers wrote; with --all, every PCI device of this host as libvirt reports it now, and why
one is not offered), and in `nodes show` the pools (pci_stats) and mediated device (vGPU)
capacity of a node."""

from __future__ import annotations

import json

from oslo_config import cfg

from resource_tracker.audit import device_spec, devices, nova_format
from resource_tracker.audit.devices import DeviceState
from resource_tracker.cmd import render
from resource_tracker.conf import pci as pci_conf
from resource_tracker.db.api import Database
from resource_tracker.exception import ResourceTrackerError

KINDS = {"type-PF": "PF", "type-VF": "VF", "type-PCI": "PCI", "vdpa": "VDPA"}


def devices_list(conf: cfg.ConfigOpts, database: Database) -> None:
    """The offered PCI devices of one host or all: address, kind, ids, NUMA node, state."""
    if conf.category.all:
        all_devices(conf)
        return
    found = database.pci_devices(conf.category.device_host)
    if conf.category.format == "json":
        shown = [
            {"host": node.host, "hypervisor_hostname": node.hypervisor_hostname}
            | render.row_dict(device)
            for node, device in found
        ]
        print(json.dumps(shown, indent=2))
        return
    rows = [
        (
            node.host,
            device.address,
            KINDS.get(device.dev_type, device.dev_type),
            f"{device.vendor_id}:{device.product_id}",
            device.numa_node,
            device.status,
            device.instance_uuid,
            device.parent_addr,
        )
        for node, device in found
    ]
    header = ("HOST", "ADDRESS", "KIND", "ID", "NUMA", "STATE", "DOMAIN", "PF")
    # a domain UUID is 36 characters and worth keeping whole: wider than a nodes table
    print(render.table(header, rows, right=(4,), shrink=(0,), width=120))


def all_devices(conf: cfg.ConfigOpts) -> None:
    """Every PCI device of this host, offered or not, as an audit now would see it: state,
    domain, and for one not offered, why (the [pci] device_spec of this config)."""
    host = conf.category.device_host
    if host not in (None, conf.host):
        raise ResourceTrackerError(
            f"devices list --all reads this host's libvirt ({conf.host}): run it on {host}"
        )
    # libvirt is loaded only here; the storage is never measured
    from resource_tracker.virt.disk import FileStorage
    from resource_tracker.virt.libvirt.connection import LibvirtConnection
    from resource_tracker.virt.libvirt.driver import LibvirtDriver

    specs = pci_conf.specs(conf)
    connection = LibvirtConnection(conf.libvirt.connection_uri)
    driver = LibvirtDriver(connection, FileStorage(conf.instances_path))
    try:
        host_devices, users = driver.host_devices()
    finally:
        driver.close()
    states = devices.device_states(host_devices, users, specs)
    shown = [_device_entry(conf.host, state, specs) for state in states]
    if conf.category.format == "json":
        print(json.dumps(shown, indent=2))
        return
    rows = [
        (
            entry["address"],
            KINDS.get(entry["dev_type"], entry["dev_type"]),
            f"{entry['vendor_id']}:{entry['product_id']}",
            entry["numa_node"],
            entry["status"],
            entry["instance_uuid"],
            entry["parent_addr"],
            "yes" if entry["offered"] else f"no: {entry['why_not_offered']}",
        )
        for entry in shown
    ]
    header = ("ADDRESS", "KIND", "ID", "NUMA", "STATE", "DOMAIN", "PF", "OFFERED")
    print(f"every PCI device of {conf.host} (libvirt at {conf.libvirt.connection_uri}):")
    print(render.table(header, rows, right=(3,), shrink=(7,), width=160))


def _device_entry(host: str, state: DeviceState, specs) -> dict:
    device = state.device
    why = device_spec.why_not_offered(specs, device)
    return {
        "host": host,
        "address": device.address,
        "dev_type": device.dev_type,
        "vendor_id": device.vendor_id,
        "product_id": device.product_id,
        "numa_node": device.numa_node,
        "status": state.status,
        "instance_uuid": state.instance_uuid,
        "parent_addr": device.parent_addr,
        "parent_ifname": device.parent_ifname,
        "dev_id": device.name,
        "offered": why is None,
        "why_not_offered": why,
    }


def node_devices_text(entry: dict) -> list[str]:
    """`nodes show`'s lines for a node's pools and mdev capacity (popped from `entry`)."""
    pci_stats, mdevs = entry.pop("pci_stats", None), entry.pop("mdev_capacity", None)
    lines = []
    pools = nova_format.read_pci_stats(pci_stats)
    if pci_stats is None:
        lines.append("pci_stats: not reported")
    else:
        free = sum(pool.count for pool in pools)
        lines.append(f"pci_stats: {len(pools)} pool(s), {free} free device(s)")
    if pools:
        rows = [
            (
                f"{pool.vendor_id}:{pool.product_id}",
                pool.numa_node,
                pool.count,
                " ".join(f"{key}={value}" for key, value in pool.tags),
            )
            for pool in pools
        ]
        header = ("ID", "NUMA", "FREE", "TAGS")
        lines.append(render.table(header, rows, right=(1, 2), shrink=(3,), width=120))
    capacity = nova_format.read_mdev_capacity(mdevs)
    if capacity:
        lines += ["", "mediated devices (vGPU) by parent and type:"]
        mdev_rows = [
            (
                mdev.parent,
                mdev.type_id,
                mdev.name,
                mdev.free,
                mdev.used,
                mdev.existing,
                mdev.available_instances,
                len(mdev.orphaned),
            )
            for mdev in capacity
        ]
        mdev_header = ("PARENT", "TYPE", "NAME", "FREE", "USED", "EXIST", "CREATE", "ORPHAN")
        lines.append(render.table(mdev_header, mdev_rows, right=range(3, 8), shrink=(0, 2)))
        orphans = [uuid for mdev in capacity for uuid in mdev.orphaned]
        if orphans:
            lines.append(f"orphaned mdevs (no domain names them): {', '.join(orphans)}")
    return lines
