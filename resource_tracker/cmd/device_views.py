"""What resource-tracker-manage shows of devices: `devices list`, and in `nodes show` the
pools (pci_stats) and mediated device (vGPU) capacity of a node."""

from __future__ import annotations

import json

from oslo_config import cfg

from resource_tracker.audit import nova_format
from resource_tracker.cmd import render
from resource_tracker.db.api import Database

KINDS = {"type-PF": "PF", "type-VF": "VF", "type-PCI": "PCI"}


def devices_list(conf: cfg.ConfigOpts, database: Database) -> None:
    """The offered PCI devices of one host or all: address, kind, ids, NUMA node, state."""
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
