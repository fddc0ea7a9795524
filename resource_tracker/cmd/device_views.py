"""What resource-tracker-manage shows of devices: `devices list` (the offered devices the
trackers wrote; with --all, every PCI device of this host as libvirt reports it now, and why
one is not offered), and in `nodes show` the pools (pci_stats) and mediated device (vGPU)
capacity of a node."""

from __future__ import annotations

from oslo_config import cfg

from resource_tracker.audit import device_spec, devices, nova_format
from resource_tracker.audit.devices import DeviceState
from resource_tracker.cmd import output, render, require_schema
from resource_tracker.conf import pci as pci_conf
from resource_tracker.db.api import Database
from resource_tracker.exception import ResourceTrackerError

KINDS = {"type-PF": "PF", "type-VF": "VF", "type-PCI": "PCI", "vdpa": "VDPA"}


DEVICE_COLUMNS = (
    output.Column("HOST", "host", shrink=True),
    output.Column("ADDRESS", "address"),
    output.Column("KIND", text=lambda e: KINDS.get(e["dev_type"], e["dev_type"])),
    output.Column("ID", text=lambda e: f"{e['vendor_id']}:{e['product_id']}"),
    output.Column("NUMA", "numa_node", right=True),
    output.Column("STATE", "status"),
    output.Column("DOMAIN", "instance_uuid"),
    output.Column("PF", "parent_addr"),
)
ALL_COLUMNS = (
    *DEVICE_COLUMNS[1:],
    output.Column(
        "OFFERED",
        text=lambda e: "yes" if e["offered"] else f"no: {e['why_not_offered']}",
        shrink=True,
    ),
)


def devices_list(conf: cfg.ConfigOpts, database: Database) -> None:
    """The offered PCI devices of one host or all: address, kind, ids, NUMA node, state."""
    if conf.category.all:
        all_devices(conf)
        return
    require_schema(database)
    host = conf.category.device_host
    if host is not None and not database.compute_nodes(host):
        raise ResourceTrackerError(f"no compute node for host {host}")
    shown = [
        {"host": node.host, "hypervisor_hostname": node.hypervisor_hostname}
        | render.row_dict(device)
        for node, device in database.pci_devices(host)
    ]
    output.show_list(conf.category, DEVICE_COLUMNS, shown)


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
    if conf.category.format == "table":
        output.hint(f"every PCI device of {conf.host} (libvirt at {conf.libvirt.connection_uri})")
    output.show_list(conf.category, ALL_COLUMNS, shown)


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


def node_devices_text(entry: dict, width: int) -> list[str]:
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
        lines.append(render.table(header, rows, right=(1, 2), shrink=(3,), width=width))
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
        lines.append(
            render.table(mdev_header, mdev_rows, right=range(3, 8), shrink=(0, 2), width=width)
        )
        orphans = [uuid for mdev in capacity for uuid in mdev.orphaned]
        if orphans:
            lines.append(f"orphaned mdevs (no domain names them): {', '.join(orphans)}")
    return lines
