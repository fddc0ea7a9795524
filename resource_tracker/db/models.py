"""compute_nodes, services and pci_devices as SQLAlchemy Core tables, portable between MySQL
and SQLite (plain Tables: the daemon never loads sqlalchemy.orm, ~6 MiB; records.py holds
what the reads return).

compute_nodes keeps every column of the table operators know (Nova's), with its names and
meanings, so their SQL keeps working; the additions come after the seed's columns. Sizes
are BIGINT where a host that can exist overflows INT (8 EiB file systems; over-commit of
exabyte-sized sparse images), since revision 0005. `deleted`
is 0 for a live row and the row's id once soft-deleted (Nova's convention), so a unique key
that includes it allows one live row per (host, hypervisor_hostname) and any history.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects import mysql

LOCAL_STORAGE = "local:"  # storage_id of a host's own storage: 'local:' + its host name
MEDIUMTEXT = Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")
# Names in a unique key compare byte for byte, as Python and SQLite compare them: a
# case-insensitive collation (MySQL's default) would make 'Node-1' and 'node-1' one key.
NAME = String(255).with_variant(mysql.VARCHAR(255, collation="utf8mb4_bin"), "mysql", "mariadb")
MYSQL_TABLE_ARGS: dict[str, Any] = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4"}

metadata = MetaData()


def _soft_delete() -> tuple[Column, ...]:
    """Every table's last four columns (fresh ones each: a Column belongs to one table)."""
    return (
        Column("created_at", DateTime),
        Column("updated_at", DateTime),
        Column("deleted_at", DateTime),
        Column("deleted", Integer, nullable=False, default=0),
    )


def _id() -> Column:
    return Column("id", Integer, primary_key=True, autoincrement=True)


# One row per tracker daemon: its heartbeat.
services = Table(
    "services",
    metadata,
    _id(),
    Column("host", NAME, nullable=False),
    Column("binary", NAME, nullable=False),
    Column("report_count", Integer, nullable=False, default=0),
    Column("disabled", Boolean, nullable=False, default=False),
    *_soft_delete(),
    UniqueConstraint("host", "binary", "deleted", name="uniq_services0host0binary0deleted"),
    **MYSQL_TABLE_ARGS,
)

compute_nodes = Table(
    "compute_nodes",
    metadata,
    _id(),
    Column("service_id", ForeignKey("services.id"), nullable=False),
    Column("vcpus", Integer, nullable=False),
    Column("memory_mb", BigInteger, nullable=False),
    Column("local_gb", BigInteger, nullable=False),
    Column("vcpus_used", Integer, nullable=False),
    Column("memory_mb_used", BigInteger, nullable=False),
    Column("local_gb_used", BigInteger, nullable=False),
    Column("hypervisor_type", MEDIUMTEXT, nullable=False),
    Column("hypervisor_version", Integer, nullable=False),
    Column("cpu_info", MEDIUMTEXT, nullable=False),
    Column("disk_available_least", BigInteger),
    Column("free_ram_mb", BigInteger),
    Column("free_disk_gb", BigInteger),
    Column("current_workload", Integer),
    Column("running_vms", Integer),
    # NOT NULL since revision 0002: a unique key does not hold for NULLs (MySQL and SQLite).
    Column("hypervisor_hostname", NAME, nullable=False),
    Column("uuid", String(36), nullable=False),
    Column("host", NAME, nullable=False),
    Column("reserved_host_memory_mb", Integer),
    Column("reserved_host_disk_mb", Integer),
    Column("reserved_host_cpus", Integer),
    Column("cpu_allocation_ratio", Double),
    Column("ram_allocation_ratio", Double),
    Column("disk_allocation_ratio", Double),
    # The host's shape (revision 0003): Nova's JSON columns, and our dedicated CPU counts.
    Column("numa_topology", MEDIUMTEXT),
    Column("supported_instances", MEDIUMTEXT),
    Column("stats", MEDIUMTEXT),
    Column("host_ip", String(45)),
    Column("pcpus", Integer),
    Column("pcpus_used", Integer),
    # since revision 0004: the storage the host's instance disks are on ('local:HOST' for its
    # own, else shared with every host naming it), and its domains' over-commit there
    Column(
        "storage_id",
        String(255),
        nullable=False,
        server_default=LOCAL_STORAGE,  # 0008: read as local:HOST
    ),
    Column("disk_overcommit_bytes", BigInteger, nullable=False, server_default="0"),
    # since revision 0006: Nova's PciDevicePoolList primitive, and our own per parent and
    # mdev type JSON (docs/devices.md)
    Column("pci_stats", MEDIUMTEXT),
    Column("mdev_capacity", MEDIUMTEXT),
    # since revision 0007, the rest of Nova's columns, its types and defaults: `metrics`
    # (we write '[]', Nova's tracker with no monitors), `extra_resources` (never written:
    # Nova's object has no such field), `mapped` (nova-manage discover_hosts sets it to 1;
    # the tracker never writes it)
    Column("metrics", Text),
    Column("extra_resources", Text),
    Column("mapped", Integer, server_default="0"),
    *_soft_delete(),
    UniqueConstraint(
        "host",
        "hypervisor_hostname",
        "deleted",
        name="uniq_compute_nodes0host0hypervisor_hostname0deleted",
    ),
    UniqueConstraint("uuid", name="uniq_compute_nodes0uuid"),
    Index("compute_nodes_storage_id_deleted_idx", "storage_id", "deleted"),
    **MYSQL_TABLE_ARGS,
)

# One offered PCI function of a compute node: Nova's pci_devices table and columns. A device
# no longer seen is soft-deleted (deleted = id, status 'deleted') as Nova does, so the unique
# key allows one live row per (compute_node_id, address) and any history.
pci_devices = Table(
    "pci_devices",
    metadata,
    _id(),
    Column("uuid", String(36)),
    Column("compute_node_id", ForeignKey("compute_nodes.id"), nullable=False),
    Column("address", String(12), nullable=False),
    Column("vendor_id", String(4), nullable=False),
    Column("product_id", String(4), nullable=False),
    Column("dev_type", String(8), nullable=False),
    Column("dev_id", String(255)),
    Column("label", String(255), nullable=False),
    Column("status", String(36), nullable=False),
    Column("request_id", String(36)),
    Column("extra_info", Text),
    Column("instance_uuid", String(36)),
    Column("numa_node", Integer),
    Column("parent_addr", String(12)),
    *_soft_delete(),
    UniqueConstraint(
        "compute_node_id",
        "address",
        "deleted",
        name="uniq_pci_devices0compute_node_id0address0deleted",
    ),
    Index("ix_pci_devices_compute_node_id_deleted", "compute_node_id", "deleted"),
    Index("ix_pci_devices_instance_uuid_deleted", "instance_uuid", "deleted"),
    Index(
        "ix_pci_devices_compute_node_id_parent_addr_deleted",
        "compute_node_id",
        "parent_addr",
        "deleted",
    ),
    **MYSQL_TABLE_ARGS,
)
