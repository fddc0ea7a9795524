"""compute_nodes and services, typed for SQLAlchemy 2.0, portable between MySQL and SQLite.

compute_nodes keeps every column of the table operators know (Nova's), with its names and
meanings, so their SQL keeps working; the additions come after the seed's columns. Sizes
are BIGINT where a host that can exist overflows INT (8 EiB file systems; over-commit of
exabyte-sized sparse images), since revision 0005. `deleted`
is 0 for a live row and the row's id once soft-deleted (Nova's convention), so a unique key
that includes it allows one live row per (host, hypervisor_hostname) and any history.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

LOCAL_STORAGE = "local:"  # storage_id of a host's own storage: 'local:' + its host name
MEDIUMTEXT = Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")
# Names in a unique key compare byte for byte, as Python and SQLite compare them: a
# case-insensitive collation (MySQL's default) would make 'Node-1' and 'node-1' one key.
NAME = String(255).with_variant(mysql.VARCHAR(255, collation="utf8mb4_bin"), "mysql", "mariadb")
MYSQL_TABLE_ARGS = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4"}


class Base(DeclarativeBase):
    # Every model here declares __tablename__, so its __table__ is a Table (DeclarativeBase
    # types it as the wider FromClause, which has no insert(), update() or delete()).
    __table__: ClassVar[Table]


class SoftDeleteMixin:
    created_at: Mapped[datetime | None] = mapped_column(DateTime)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime)
    deleted: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class Service(SoftDeleteMixin, Base):
    """One row per tracker daemon: its heartbeat."""

    __tablename__ = "services"
    __table_args__ = (
        UniqueConstraint("host", "binary", "deleted", name="uniq_services0host0binary0deleted"),
        MYSQL_TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    host: Mapped[str] = mapped_column(NAME, nullable=False)
    binary: Mapped[str] = mapped_column(NAME, nullable=False)
    report_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    disabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)


class ComputeNode(SoftDeleteMixin, Base):
    __tablename__ = "compute_nodes"
    __table_args__ = (
        UniqueConstraint(
            "host",
            "hypervisor_hostname",
            "deleted",
            name="uniq_compute_nodes0host0hypervisor_hostname0deleted",
        ),
        UniqueConstraint("uuid", name="uniq_compute_nodes0uuid"),
        Index("compute_nodes_storage_id_deleted_idx", "storage_id", "deleted"),
        MYSQL_TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"), nullable=False)
    vcpus: Mapped[int] = mapped_column(Integer, nullable=False)
    memory_mb: Mapped[int] = mapped_column(BigInteger, nullable=False)
    local_gb: Mapped[int] = mapped_column(BigInteger, nullable=False)
    vcpus_used: Mapped[int] = mapped_column(Integer, nullable=False)
    memory_mb_used: Mapped[int] = mapped_column(BigInteger, nullable=False)
    local_gb_used: Mapped[int] = mapped_column(BigInteger, nullable=False)
    hypervisor_type: Mapped[str] = mapped_column(MEDIUMTEXT, nullable=False)
    hypervisor_version: Mapped[int] = mapped_column(Integer, nullable=False)
    cpu_info: Mapped[str] = mapped_column(MEDIUMTEXT, nullable=False)
    disk_available_least: Mapped[int | None] = mapped_column(BigInteger)
    free_ram_mb: Mapped[int | None] = mapped_column(BigInteger)
    free_disk_gb: Mapped[int | None] = mapped_column(BigInteger)
    current_workload: Mapped[int | None] = mapped_column(Integer)
    running_vms: Mapped[int | None] = mapped_column(Integer)
    # NOT NULL since revision 0002: a unique key does not hold for NULLs (MySQL and SQLite).
    hypervisor_hostname: Mapped[str] = mapped_column(NAME, nullable=False)

    uuid: Mapped[str] = mapped_column(String(36), nullable=False)
    host: Mapped[str] = mapped_column(NAME, nullable=False)
    reserved_host_memory_mb: Mapped[int | None] = mapped_column(Integer)
    reserved_host_disk_mb: Mapped[int | None] = mapped_column(Integer)
    reserved_host_cpus: Mapped[int | None] = mapped_column(Integer)
    cpu_allocation_ratio: Mapped[float | None] = mapped_column(Double)
    ram_allocation_ratio: Mapped[float | None] = mapped_column(Double)
    disk_allocation_ratio: Mapped[float | None] = mapped_column(Double)
    # The host's shape (revision 0003): Nova's JSON columns, and our dedicated CPU counts.
    numa_topology: Mapped[str | None] = mapped_column(MEDIUMTEXT)
    supported_instances: Mapped[str | None] = mapped_column(MEDIUMTEXT)
    stats: Mapped[str | None] = mapped_column(MEDIUMTEXT)
    host_ip: Mapped[str | None] = mapped_column(String(45))
    pcpus: Mapped[int | None] = mapped_column(Integer)
    pcpus_used: Mapped[int | None] = mapped_column(Integer)
    # since revision 0004: the storage the host's instance disks are on ('local:HOST' for its
    # own, else shared with every host naming it), and its domains' over-commit there
    storage_id: Mapped[str] = mapped_column(
        String(255),
        nullable=False,
        server_default=LOCAL_STORAGE,  # 0008: read as local:HOST
    )
    disk_overcommit_bytes: Mapped[int] = mapped_column(
        BigInteger, nullable=False, server_default="0"
    )
    # since revision 0006: Nova's PciDevicePoolList primitive, and our own per parent and
    # mdev type JSON (docs/devices.md)
    pci_stats: Mapped[str | None] = mapped_column(MEDIUMTEXT)
    mdev_capacity: Mapped[str | None] = mapped_column(MEDIUMTEXT)
    # since revision 0007, the rest of Nova's columns, its types and defaults: `metrics`
    # (we write '[]', Nova's tracker with no monitors), `extra_resources` (never written:
    # Nova's object has no such field), `mapped` (nova-manage discover_hosts sets it to 1;
    # the tracker never writes it)
    metrics: Mapped[str | None] = mapped_column(Text)
    extra_resources: Mapped[str | None] = mapped_column(Text)
    mapped: Mapped[int | None] = mapped_column(Integer, server_default="0")


class PciDevice(SoftDeleteMixin, Base):
    """One offered PCI function of a compute node: Nova's pci_devices table and columns.

    A device no longer seen is soft-deleted (deleted = id, status 'deleted') as Nova does, so
    the unique key allows one live row per (compute_node_id, address) and any history.
    """

    __tablename__ = "pci_devices"
    __table_args__ = (
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
        MYSQL_TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str | None] = mapped_column(String(36))
    compute_node_id: Mapped[int] = mapped_column(ForeignKey("compute_nodes.id"), nullable=False)
    address: Mapped[str] = mapped_column(String(12), nullable=False)
    vendor_id: Mapped[str] = mapped_column(String(4), nullable=False)
    product_id: Mapped[str] = mapped_column(String(4), nullable=False)
    dev_type: Mapped[str] = mapped_column(String(8), nullable=False)
    dev_id: Mapped[str | None] = mapped_column(String(255))
    label: Mapped[str] = mapped_column(String(255), nullable=False)
    status: Mapped[str] = mapped_column(String(36), nullable=False)
    request_id: Mapped[str | None] = mapped_column(String(36))
    extra_info: Mapped[str | None] = mapped_column(Text)
    instance_uuid: Mapped[str | None] = mapped_column(String(36))
    numa_node: Mapped[int | None] = mapped_column(Integer)
    parent_addr: Mapped[str | None] = mapped_column(String(12))
