"""Immutable records of what a host has and what its domains use.

The driver builds them; everything in them is in base units (bytes and counts).
Conversion into the table's MB/GB columns happens once, in the tracker.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """Facts read from a disk image's header."""

    format: str
    virtual_size: int
    cluster_size: int | None = None
    version: int | None = None
    backing_file: str | None = None
    backing_format: str | None = None
    encryption: str | None = None
    data_file: str | None = None


@dataclass(frozen=True, slots=True)
class DomainDisk:
    """One `<disk>` of a domain's XML, as libvirt describes it.

    `source_type` is the disk's `type` attribute (file, block, network, volume, dir);
    `format` is the `<driver type=...>` attribute, the only source of truth for the format.
    `path` is the source's file or device, or for a network disk its name (`pool/image`
    with `protocol` rbd).
    """

    domain: str
    target: str
    source_type: str
    device: str
    path: str | None
    format: str | None
    protocol: str | None = None


@dataclass(frozen=True, slots=True)
class DiskUsage:
    """How much one disk takes on local storage and how much more it may grow into.

    `allocated_bytes` includes the allocation of the qcow2 external data file, if the image
    has one (`data_file`). `virtual_bytes` is None when the image could not be measured;
    `problem` then says why, and its over-commit counts as 0.
    """

    domain: str
    target: str
    path: str
    format: str
    virtual_bytes: int | None
    allocated_bytes: int
    overcommit_bytes: int
    data_file: str | None = None
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class CpuTopology:
    sockets: int
    cores: int
    threads: int
    cells: int


@dataclass(frozen=True, slots=True)
class CpuInfo:
    """The host CPU as the capabilities describe it."""

    arch: str
    model: str | None
    vendor: str | None
    topology: CpuTopology
    features: tuple[str, ...]

    def as_dict(self) -> dict:
        return dataclasses.asdict(self) | {"features": list(self.features)}


@dataclass(frozen=True, slots=True)
class LocalStorage:
    """The storage that instance disks live on, in bytes.

    `shared_id` names a storage that other hosts may share (a network file system, a Ceph
    pool); None for this host's own.
    """

    total_bytes: int
    free_bytes: int
    used_bytes: int
    shared_id: str | None = None


@dataclass(frozen=True, slots=True)
class HostResources:
    """One audit's snapshot of a host.

    `vcpus_used`, `memory_used_bytes` and `running_vms` count active domains (running or
    paused: they hold their vCPUs and memory); `busy_vms` counts domains with an operation
    under way (migration, save, snapshot, shutdown); `disks` holds every file disk of every
    domain, active or shut off, since a stopped domain's disks still take local storage.
    """

    hypervisor_hostname: str
    hypervisor_type: str
    hypervisor_version: int
    cpu_info: CpuInfo
    vcpus: int
    vcpus_used: int
    memory_total_bytes: int
    memory_used_bytes: int
    running_vms: int
    busy_vms: int
    storage: LocalStorage
    disks: tuple[DiskUsage, ...]

    @property
    def disk_overcommit_bytes(self) -> int:
        return sum(disk.overcommit_bytes for disk in self.disks)


@dataclass(frozen=True, slots=True)
class ComputeNodeValues:
    """One compute_nodes row's values, in the table's units (MB, GB, counts).

    `storage_id` names a storage other hosts may share (None: this host's own, stored as
    'local:HOST'); `disk_overcommit_bytes` is this host's domains' over-commit on it.
    """

    hypervisor_hostname: str
    hypervisor_type: str
    hypervisor_version: int
    cpu_info: str
    vcpus: int
    vcpus_used: int
    memory_mb: int
    memory_mb_used: int
    local_gb: int
    local_gb_used: int
    free_ram_mb: int
    free_disk_gb: int
    disk_available_least: int
    current_workload: int
    running_vms: int
    reserved_host_memory_mb: int
    reserved_host_disk_mb: int
    reserved_host_cpus: int
    cpu_allocation_ratio: float
    ram_allocation_ratio: float
    disk_allocation_ratio: float
    storage_id: str | None = None
    disk_overcommit_bytes: int = 0
