"""The audit: ask the driver for the host's resources, convert them, write the row.

All unit conversion happens here, once: the driver speaks bytes, the table MB and GB, and
every MB/GB column is floor(bytes / 2**20) or floor(bytes / 2**30). The host's shape (NUMA
cells, CPU sets, pages) is worked out by shape.py and written in Nova's formats by
nova_format.py.

The use columns count what every domain holds, shut-off ones included, with the host's
reserve, as Nova 34's tracker counts its instances (resource_tracker.
_update_usage_from_instances and _update_usage): vcpus_used = reserved_host_cpus + every
domain's vCPUs (pinned ones too), memory_mb_used = reserved_host_memory_mb + every domain's
memory, local_gb_used = the reserved disk + the storage's used space, running_vms = every
domain (Nova's stats.num_instances), free_ram_mb and free_disk_gb = the total less the used
column. The running-only figures stay in stats (num_vm_active) and in the metrics.

Memory in huge page pools is not free RAM: a guest without huge pages cannot use it. So
free_ram_mb also leaves out the pools' memory that no domain uses (memory_mb_used counts
every domain, huge page backed or not); what huge page guests can still get is in
numa_topology's mempages. Nova subtracts nothing for the pools (its operators are told to
reserve that memory in reserved_host_memory_mb); here it is measured.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from resource_tracker.audit import devices, nova_format
from resource_tracker.audit.device_spec import DeviceSpec
from resource_tracker.audit.devices import DeviceState, MdevCapacity, Pool
from resource_tracker.audit.last_audit import LastAuditFile
from resource_tracker.audit.shape import HostShape, ShapePolicy, host_shape
from resource_tracker.exception import DatabaseUnavailable, ResourceTrackerError
from resource_tracker.resources import ComputeNodeValues, HostResources, PciDeviceValues
from resource_tracker.virt.driver import Activity, ComputeDriver

LOG = logging.getLogger(__name__)

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


class SharedStorage:
    """A storage this host shares with others (a network file system, a Ceph pool): its row's
    disk_available_least is the free space less what the disks of every live host on it may
    still grow into. The others' over-commit is read in the reconcile's transaction, which
    calls disk_available_least() with it."""

    def __init__(self, storage_id: str, free_bytes: int, overcommit_bytes: int):
        self.storage_id = storage_id
        self.free_bytes = free_bytes
        self.overcommit_bytes = overcommit_bytes
        self.least_gb: int | None = None  # the last value given to the reconcile

    def disk_available_least(self, others_overcommit_bytes: int) -> int:
        free = self.free_bytes - self.overcommit_bytes - others_overcommit_bytes
        self.least_gb = free // GiB
        return self.least_gb


class NodeStore(Protocol):
    def reconcile_compute_nodes(
        self,
        host: str,
        reported: Sequence[ComputeNodeValues],
        shared: SharedStorage | None = None,
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
    shape: HostShape | None = None
    devices: DeviceUse | None = None

    def summary(self) -> str:
        values = self.values
        return (
            f"{self.host}: vCPUs {values.vcpus_used}/{values.vcpus} used, "
            f"free RAM {values.free_ram_mb} MB, "
            f"disk_available_least {values.disk_available_least} GB, "
            f"{values.running_vms} VMs ({self.resources.running_vms} running), "
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
    resources: HostResources,
    policy: HostPolicy,
    shape_policy: ShapePolicy | None = None,
    shape: HostShape | None = None,
    use: DeviceUse | None = None,
) -> ComputeNodeValues:
    shape_policy = shape_policy or ShapePolicy()
    if shape is None:
        shape = shape_of(resources, shape_policy)
    storage = resources.storage
    memory_mb = resources.memory_total_bytes // MiB
    memory_mb_used = policy.reserved_host_memory_mb + resources.memory_held_bytes // MiB
    local_gb = storage.total_bytes // GiB
    # The reserve is rounded up to whole GB, so a reserve of 512 MB is never under-counted.
    local_gb_used = storage.used_bytes // GiB + -(-policy.reserved_host_disk_mb // 1024)
    huge_pages_mb = -(-shape.unused_huge_page_bytes // MiB)
    topology = resources.topology
    return ComputeNodeValues(
        hypervisor_hostname=resources.hypervisor_hostname,
        hypervisor_type=resources.hypervisor_type,
        hypervisor_version=resources.hypervisor_version,
        cpu_info=nova_format.dumps(resources.cpu_info.as_dict()),
        vcpus=shape.vcpus,
        vcpus_used=policy.reserved_host_cpus + resources.vcpus_held,
        memory_mb=memory_mb,
        memory_mb_used=memory_mb_used,
        local_gb=local_gb,
        local_gb_used=local_gb_used,
        free_ram_mb=memory_mb - memory_mb_used - huge_pages_mb,
        free_disk_gb=local_gb - local_gb_used,
        disk_available_least=(storage.free_bytes - resources.disk_overcommit_bytes) // GiB,
        current_workload=resources.busy_vms,
        running_vms=resources.instances,
        **dataclasses.asdict(policy),
        numa_topology=nova_format.numa_topology(shape.cells),
        supported_instances=nova_format.supported_instances(topology.guests)
        if topology is not None
        else None,
        stats=nova_format.stats(dict(resources.domain_states), resources.busy_vms),
        host_ip=shape_policy.host_ip,
        pcpus=shape.pcpus,
        pcpus_used=shape.pcpus_used,
        storage_id=storage.shared_id,
        disk_overcommit_bytes=resources.disk_overcommit_bytes,
        pci_stats=nova_format.pci_stats(use.pools) if use else None,
        mdev_capacity=nova_format.mdev_capacity(use.mdevs) if use else None,
    )


def shared_storage(resources: HostResources) -> SharedStorage | None:
    storage = resources.storage
    if storage.shared_id is None:
        return None
    return SharedStorage(storage.shared_id, storage.free_bytes, resources.disk_overcommit_bytes)


def shape_of(resources: HostResources, shape_policy: ShapePolicy) -> HostShape:
    return host_shape(resources.topology, resources.placements, shape_policy, resources.vcpus)


@dataclass(frozen=True, slots=True)
class Measurement:
    """An audit's first half: what the host has, converted, not yet written."""

    resources: HostResources
    values: ComputeNodeValues
    started: float
    shape: HostShape | None = None
    shared: SharedStorage | None = None
    devices: DeviceUse | None = None


class ResourceTracker:
    """Audits one host into its compute_nodes row: measure(), then record().

    The two halves may run in different threads, and a half that a caller abandoned may
    still be running while the other half of a later audit runs; each half is run by one
    thread at a time.
    """

    def __init__(
        self,
        host: str,
        driver: ComputeDriver,
        store: NodeStore,
        last_audit: LastAuditFile | None = None,
        shape_policy: ShapePolicy | None = None,
        device_specs: Sequence[DeviceSpec] = (),
    ):
        self.host = host
        self._driver = driver
        self._store = store
        self._last_audit = last_audit
        self.shape_policy = shape_policy or ShapePolicy()
        self._device_specs = tuple(device_specs)
        self._problems: tuple[str, ...] = ()
        self._writing = Activity()
        self._writing_to_database = False

    def audit(self, policy: HostPolicy) -> AuditResult:
        return self.record(self.measure(policy))

    def measure(self, policy: HostPolicy) -> Measurement:
        """Ask the driver and convert; touches no database."""
        started = time.perf_counter()
        resources = self._driver.get_host_resources()
        shape = shape_of(resources, self.shape_policy)
        if shape.problems != self._problems:  # said once, not every period
            for problem in shape.problems:
                LOG.warning("%s; left out", problem)
            self._problems = shape.problems
        use = device_use(resources, self._device_specs)
        values = compute_node_values(resources, policy, self.shape_policy, shape, use)
        shared = shared_storage(resources)
        return Measurement(resources, values, started, shape, shared, use)

    def check_host(self) -> tuple[str, ...]:
        """What the shape policy names that the host does not have (asks the driver)."""
        topology, online_count = self._driver.host_topology()
        return host_shape(topology, (), self.shape_policy, online_count).problems

    def record(self, measurement: Measurement) -> AuditResult:
        """Write a measurement in one transaction."""
        # the driver reports one node per host: every other row of this host is gone
        values, shared, use = measurement.values, measurement.shared, measurement.devices
        rows = None
        if use is not None:
            offered = [nova_format.pci_device_values(state) for state in use.offered]
            rows = {values.hypervisor_hostname: offered}
        try:
            self._writing_to_database = True
            self._writing.note("the database, reconciling host", self.host)
            changed = self._store.reconcile_compute_nodes(self.host, [values], shared, rows)
            self._writing_to_database = False
            if self._last_audit is not None:
                self._writing.note("writing", self._last_audit.path)
                self._last_audit.write(self.host, measurement.resources)
        finally:
            self._writing.clear()
        if shared is not None and shared.least_gb is not None:
            values = dataclasses.replace(values, disk_available_least=shared.least_gb)
        return AuditResult(
            host=self.host,
            resources=measurement.resources,
            values=values,
            changed=changed,
            duration_s=time.perf_counter() - measurement.started,
            shape=measurement.shape,
            devices=measurement.devices,
        )

    def waiting_on(self, writing: bool) -> str | None:
        """What the measurement (or, if `writing`, the write) in progress is waiting on."""
        return self._writing.describe() if writing else self._driver.waiting_on()

    def not_answering(self, writing: bool, message: str) -> ResourceTrackerError:
        """The error for a half of the audit abandoned because it did not return: it names
        the dependency it was waiting on (what metrics and /healthz report as down)."""
        if not writing:
            return self._driver.not_answering(message)
        if self._writing_to_database:
            return DatabaseUnavailable(message)
        return ResourceTrackerError(message)
