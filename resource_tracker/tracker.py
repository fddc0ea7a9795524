"""The audit: ask the driver for the host's resources, convert them, write the row.

All unit conversion happens here, once: the driver speaks bytes, the table MB and GB, and
every MB/GB column is floor(bytes / 2**20) or floor(bytes / 2**30).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from resource_tracker import device_format, devices
from resource_tracker.device_spec import DeviceSpec
from resource_tracker.devices import DeviceState, MdevCapacity, Pool
from resource_tracker.last_audit import LastAuditFile
from resource_tracker.resources import ComputeNodeValues, HostResources, PciDeviceValues
from resource_tracker.virt.driver import ComputeDriver

MiB = 2**20
GiB = 2**30


@dataclass(frozen=True, slots=True)
class HostPolicy:
    """What the operator holds back for the host and lets schedulers over-commit.

    Each field has the name of its config option and of the column it is stored in.
    """

    reserved_host_memory_mb: int = 512
    reserved_host_disk_mb: int = 0
    reserved_host_cpus: int = 0
    cpu_allocation_ratio: float = 4.0
    ram_allocation_ratio: float = 1.0
    disk_allocation_ratio: float = 1.0


class NodeStore(Protocol):
    def reconcile_compute_nodes(
        self,
        host: str,
        reported: Sequence[ComputeNodeValues],
        devices: Mapping[str, Sequence[PciDeviceValues]] | None = None,
    ) -> bool:
        """Write the rows of `reported` (and their nodes' pci_devices), soft-delete the
        host's other rows; True if any changed."""


@dataclass(frozen=True, slots=True)
class AuditResult:
    host: str
    resources: HostResources
    values: ComputeNodeValues
    changed: bool
    duration_s: float
    devices: DeviceUse | None = None

    def summary(self) -> str:
        values = self.values
        return (
            f"{self.host}: vCPUs {values.vcpus_used}/{values.vcpus} used, "
            f"free RAM {values.free_ram_mb} MB, "
            f"disk_available_least {values.disk_available_least} GB, "
            f"{values.running_vms} running VMs, "
            f"audit {self.duration_s * 1000:.1f} ms, "
            f"row {'updated' if self.changed else 'unchanged'}"
        )


@dataclass(frozen=True, slots=True)
class DeviceUse:
    """The host's devices as the audit found them: every PCI device with its state and the
    spec offering it, the pools of offered ones, and mdev capacity."""

    states: tuple[DeviceState, ...]
    pools: tuple[Pool, ...]
    mdevs: tuple[MdevCapacity, ...]

    @property
    def offered(self) -> tuple[DeviceState, ...]:
        return tuple(state for state in self.states if state.spec is not None)


def device_use(resources: HostResources, specs: Sequence[DeviceSpec]) -> DeviceUse | None:
    """None when the driver reports no devices (unknown, so nothing is written for them)."""
    if resources.devices is None:
        return None
    users = resources.device_users
    states = devices.device_states(resources.devices, users, specs)
    return DeviceUse(
        states,
        devices.pools(states),
        devices.mdev_capacity(resources.devices, users),
    )


def compute_node_values(
    resources: HostResources, policy: HostPolicy, use: DeviceUse | None = None
) -> ComputeNodeValues:
    storage = resources.storage
    memory_mb = resources.memory_total_bytes // MiB
    memory_mb_used = resources.memory_used_bytes // MiB
    local_gb = storage.total_bytes // GiB
    local_gb_used = storage.used_bytes // GiB
    # The reserve is rounded up to whole GB, so a reserve of 512 MB is never under-counted.
    reserved_disk_gb = -(-policy.reserved_host_disk_mb // 1024)
    return ComputeNodeValues(
        hypervisor_hostname=resources.hypervisor_hostname,
        hypervisor_type=resources.hypervisor_type,
        hypervisor_version=resources.hypervisor_version,
        cpu_info=json.dumps(resources.cpu_info.as_dict(), sort_keys=True),
        vcpus=resources.vcpus,
        vcpus_used=resources.vcpus_used,
        memory_mb=memory_mb,
        memory_mb_used=memory_mb_used,
        local_gb=local_gb,
        local_gb_used=local_gb_used,
        free_ram_mb=memory_mb - memory_mb_used - policy.reserved_host_memory_mb,
        free_disk_gb=local_gb - local_gb_used - reserved_disk_gb,
        disk_available_least=(storage.free_bytes - resources.disk_overcommit_bytes) // GiB,
        current_workload=resources.busy_vms,
        running_vms=resources.running_vms,
        **dataclasses.asdict(policy),
        pci_stats=device_format.pci_stats(use.pools) if use else None,
        mdev_capacity=device_format.mdev_capacity(use.mdevs) if use else None,
    )


@dataclass(frozen=True, slots=True)
class Measurement:
    """An audit's first half: what the host has, converted, not yet written."""

    resources: HostResources
    values: ComputeNodeValues
    started: float
    devices: DeviceUse | None = None


class ResourceTracker:
    """Audits one host into its compute_nodes row: measure(), then record()."""

    def __init__(
        self,
        host: str,
        driver: ComputeDriver,
        store: NodeStore,
        policy: HostPolicy,
        last_audit: LastAuditFile | None = None,
        device_specs: Sequence[DeviceSpec] = (),
    ):
        self.host = host
        self.driver = driver
        self.store = store
        self.policy = policy
        self.last_audit = last_audit
        self.device_specs = tuple(device_specs)

    def audit(self) -> AuditResult:
        return self.record(self.measure())

    def measure(self) -> Measurement:
        """Ask the driver and convert; touches no database."""
        started = time.perf_counter()
        resources = self.driver.get_host_resources()
        use = device_use(resources, self.device_specs)
        values = compute_node_values(resources, self.policy, use)
        return Measurement(resources, values, started, use)

    def record(self, measurement: Measurement) -> AuditResult:
        """Write a measurement in one transaction."""
        # the driver reports one node per host: every other row of this host is gone
        values, use = measurement.values, measurement.devices
        rows = None
        if use is not None:
            rows = {
                values.hypervisor_hostname: [
                    device_format.pci_device_values(s) for s in use.offered
                ]
            }
        changed = self.store.reconcile_compute_nodes(self.host, [values], rows)
        if self.last_audit is not None:
            self.last_audit.write(self.host, measurement.resources)
        return AuditResult(
            host=self.host,
            resources=measurement.resources,
            values=measurement.values,
            changed=changed,
            duration_s=time.perf_counter() - measurement.started,
            devices=measurement.devices,
        )
