"""What the reads of db/api.py return: one frozen record per row of services, compute_nodes
and pci_devices, its fields the table's columns in the table's order (a unit test holds them
equal), so `Record(*row)` reads a row of `select(table)`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Service:
    """One tracker daemon: its heartbeat."""

    id: int
    host: str
    binary: str
    report_count: int
    disabled: bool
    created_at: datetime | None
    updated_at: datetime | None
    deleted_at: datetime | None
    deleted: int


@dataclass(frozen=True, slots=True)
class ComputeNode:
    id: int
    service_id: int
    vcpus: int
    memory_mb: int
    local_gb: int
    vcpus_used: int
    memory_mb_used: int
    local_gb_used: int
    hypervisor_type: str
    hypervisor_version: int
    cpu_info: str
    disk_available_least: int | None
    free_ram_mb: int | None
    free_disk_gb: int | None
    current_workload: int | None
    running_vms: int | None
    hypervisor_hostname: str
    uuid: str
    host: str
    reserved_host_memory_mb: int | None
    reserved_host_disk_mb: int | None
    reserved_host_cpus: int | None
    cpu_allocation_ratio: float | None
    ram_allocation_ratio: float | None
    disk_allocation_ratio: float | None
    numa_topology: str | None
    supported_instances: str | None
    stats: str | None
    host_ip: str | None
    pcpus: int | None
    pcpus_used: int | None
    storage_id: str
    disk_overcommit_bytes: int
    pci_stats: str | None
    mdev_capacity: str | None
    metrics: str | None
    extra_resources: str | None
    mapped: int | None
    created_at: datetime | None
    updated_at: datetime | None
    deleted_at: datetime | None
    deleted: int


@dataclass(frozen=True, slots=True)
class PciDevice:
    id: int
    uuid: str | None
    compute_node_id: int
    address: str
    vendor_id: str
    product_id: str
    dev_type: str
    dev_id: str | None
    label: str
    status: str
    request_id: str | None
    extra_info: str | None
    instance_uuid: str | None
    numa_node: int | None
    parent_addr: str | None
    created_at: datetime | None
    updated_at: datetime | None
    deleted_at: datetime | None
    deleted: int
