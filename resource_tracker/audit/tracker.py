"""The audit: ask the driver for the host's resources, convert them, write the row.

The driver speaks bytes, the table MB and GB: every MB/GB column is converted here, once,
as floor(bytes / MiB) or floor(bytes / GiB) (units.py). The host's shape (NUMA cells, CPU
sets, pages) is worked out by shape.py and written in Nova's formats, in their units (MiB of
memory, KiB of page size), by nova_format.py, the one other place bytes are converted.

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

import collections
import dataclasses
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from resource_tracker.audit import nova_format
from resource_tracker.audit.device_spec import DeviceSpec
from resource_tracker.audit.devices import DeviceUse, device_use
from resource_tracker.audit.drift import Drift, DriftWatch
from resource_tracker.audit.last_audit import LastAuditFile
from resource_tracker.audit.networks import NetworkAffinity, per_cell
from resource_tracker.audit.provider import ProviderPolicy, provider_tree
from resource_tracker.audit.shape import HostShape, ShapePolicy, host_shape
from resource_tracker.exception import DatabaseUnavailable, ResourceTrackerError
from resource_tracker.placement.records import ProviderTree, SyncOutcome
from resource_tracker.resources import (
    ComputeNodeValues,
    DomainSweep,
    HostResources,
    PciDeviceValues,
    Reconciled,
)
from resource_tracker.timeouts import (
    CALL_DEADLINE_S,
    PLACEMENT_BUDGET_S,
    PLACEMENT_MARGIN_S,
)
from resource_tracker.units import GiB, MiB, mib_in_whole_gib
from resource_tracker.virt.driver import Activity, ComputeDriver

LOG = logging.getLogger(__name__)


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


@dataclass(frozen=True, slots=True)
class SharedStorage:
    """A storage this host shares with others (a network file system, a Ceph pool): its row's
    disk_available_least is the free space less what the disks of every live host on it may
    still grow into. The others' over-commit is read in the reconcile's transaction, which
    calls disk_available_least() with it and answers with the value."""

    storage_id: str
    free_bytes: int
    overcommit_bytes: int  # this host's domains'

    def disk_available_least(self, others_overcommit_bytes: int) -> int:
        return (self.free_bytes - self.overcommit_bytes - others_overcommit_bytes) // GiB


class NodeStore(Protocol):
    def reconcile_compute_nodes(
        self,
        host: str,
        reported: Sequence[ComputeNodeValues],
        shared: SharedStorage | None = None,
        devices: Mapping[str, Sequence[PciDeviceValues]] | None = None,
    ) -> Reconciled:
        """Write the rows of `reported` (and their nodes' pci_devices), soft-delete the
        host's other rows; say whether any changed, and the disk_available_least of the
        rows on `shared` storage."""

    def beat(self, host: str) -> None:
        """Write the host's heartbeat alone."""

    def beat_due(self, host: str) -> float | None:
        """When the host's next heartbeat is due (time.monotonic()); None: not on its own."""


class ProviderReporter(Protocol):
    def sync(self, tree: ProviderTree, deadline: float, allocations: bool = False) -> SyncOutcome:
        """Bring the host's providers in Placement to `tree` by `deadline`
        (time.monotonic()), and read the root's allocations if asked; never raises for
        Placement's faults: the outcome says what happened."""


@dataclass(frozen=True, slots=True)
class HostFigures:
    """The figures of one audit that the metrics report: base units, before the table's
    flooring; vCPUs as the row counts them (the shared CPUs, when CPU sets are given)."""

    vcpus: int
    vcpus_used: int
    memory_total_bytes: int
    memory_used_bytes: int
    disk_total_bytes: int
    disk_used_bytes: int
    disk_free_bytes: int
    disk_overcommit_bytes: int
    running_vms: int
    device_xml_reads: int = 0  # node device XML this audit read
    domain_xml_reads: int = 0
    # every domain, running or not, by the flavor its Nova metadata names ("": none)
    domains_by_flavor: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class AuditResult:
    host: str
    resources: HostResources
    values: ComputeNodeValues
    changed: bool
    duration_s: float
    shape: HostShape | None = None
    devices: DeviceUse | None = None
    rows_read: bool = True  # False: the database got the heartbeat alone
    beat: bool = True  # False: not even that (the last one is younger than report_interval)
    placement: SyncOutcome | None = None  # None: not reported to Placement
    drift: tuple[Drift, ...] | None = None  # None: not known (not compared this audit)

    @property
    def figures(self) -> HostFigures:
        resources, values, storage = self.resources, self.values, self.resources.storage
        return HostFigures(
            vcpus=values.vcpus,
            vcpus_used=resources.vcpus_used,  # running domains', as the gauges say
            memory_total_bytes=resources.memory_total_bytes,
            memory_used_bytes=resources.memory_used_bytes,
            disk_total_bytes=storage.total_bytes,
            disk_used_bytes=storage.used_bytes,
            disk_free_bytes=storage.free_bytes,
            disk_overcommit_bytes=resources.disk_overcommit_bytes,
            running_vms=resources.running_vms,
            device_xml_reads=resources.devices.xml_reads if resources.devices else 0,
            domain_xml_reads=resources.domain_xml_reads,
            domains_by_flavor=_domains_by_flavor(resources),
        )

    def summary(self) -> str:
        values = self.values
        return (
            f"{self.host}: vCPUs {values.vcpus_used}/{values.vcpus} used, "
            f"free RAM {values.free_ram_mb} MiB, "
            f"disk_available_least {values.disk_available_least} GiB, "
            f"{values.running_vms} VMs ({self.resources.running_vms} running), "
            f"audit {self.duration_s * 1000:.1f} ms, "
            f"row {'updated' if self.changed else 'unchanged'}"
        )


def compute_node_values(
    resources: HostResources,
    policy: HostPolicy,
    shape_policy: ShapePolicy | None = None,
    shape: HostShape | None = None,
    use: DeviceUse | None = None,
    networks: NetworkAffinity | None = None,
) -> ComputeNodeValues:
    shape_policy = shape_policy or ShapePolicy()
    if shape is None:
        shape = shape_of(resources, shape_policy)
    storage = resources.storage
    memory_mb = resources.memory_total_bytes // MiB
    memory_mb_used = policy.reserved_host_memory_mb + resources.memory_held_bytes // MiB
    local_gb = storage.total_bytes // GiB
    # The reserve is rounded up to whole GB, so a reserve of 512 MB is never under-counted.
    local_gb_used = storage.used_bytes // GiB + mib_in_whole_gib(policy.reserved_host_disk_mb)
    huge_pages_mb = -(-shape.unused_huge_page_bytes // MiB)
    topology = resources.topology
    return ComputeNodeValues(
        hypervisor_hostname=resources.hypervisor_hostname,
        hypervisor_type=resources.hypervisor_type,
        hypervisor_version=resources.hypervisor_version,
        cpu_info=nova_format.CPU_INFO(resources.cpu_info),
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
        numa_topology=nova_format.numa_topology(
            shape.cells, per_cell(networks or NetworkAffinity(), (c.id for c in shape.cells))
        ),
        supported_instances=nova_format.SUPPORTED_INSTANCES(topology.guests)
        if topology is not None
        else None,
        stats=nova_format.stats(
            dict(resources.domain_states), resources.busy_vms, resources.nova_domains
        ),
        host_ip=shape_policy.host_ip,
        pcpus=shape.pcpus,
        pcpus_used=shape.pcpus_used,
        storage_id=storage.shared_id,
        disk_overcommit_bytes=resources.disk_overcommit_bytes,
        pci_stats=nova_format.pci_stats(use.pools) if use else None,
        mdev_capacity=nova_format.mdev_capacity(use.mdevs) if use else None,
        metrics=nova_format.NO_METRICS,
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
        networks: NetworkAffinity | None = None,
        placement: ProviderReporter | None = None,
        provider_policy: ProviderPolicy | None = None,
    ):
        self.host = host
        self._driver = driver
        self._store = store
        self._last_audit = last_audit
        self.shape_policy = shape_policy or ShapePolicy()
        self._device_specs = tuple(device_specs)
        self._networks = networks or NetworkAffinity()
        self._problems: tuple[str, ...] = ()
        self._writing = Activity()
        self._writing_to_database = False
        self._placement = placement
        self.provider_policy = provider_policy or ProviderPolicy()  # replaced on reload
        self._drift = DriftWatch()
        self._said: set[str] = set()  # provider problems logged (each said once)
        self._last_shape: tuple[tuple, HostShape] | None = None

    def audit(self, policy: HostPolicy) -> AuditResult:
        return self.record(self.measure(policy))

    def measure(self, policy: HostPolicy) -> Measurement:
        """Ask the driver and convert; touches no database."""
        started = time.perf_counter()
        resources = self._driver.get_host_resources()
        shape = self._shape(resources)
        if shape.problems != self._problems:  # said once, not every period
            for problem in shape.problems:
                LOG.warning("%s; left out", problem)
            self._problems = shape.problems
        use = device_use(resources, self._device_specs)
        values = compute_node_values(
            resources, policy, self.shape_policy, shape, use, self._networks
        )
        shared = shared_storage(resources)
        return Measurement(resources, values, started, shape, shared, use)

    def sweep(self) -> DomainSweep:
        """Between audits: what the driver re-reads for changes it gets no event for."""
        return self._driver.sweep()

    def _shape(self, resources: HostResources) -> HostShape:
        """shape_of, worked out again only when what it reads changed: an idle host's
        placements are the same objects audit after audit (compared at the cost of their
        identity), and 1,000 of them cost a millisecond or more to go through."""
        key = (resources.topology, resources.placements, self.shape_policy, resources.vcpus)
        if self._last_shape is None or self._last_shape[0] != key:
            self._last_shape = (key, shape_of(resources, self.shape_policy))
        return self._last_shape[1]

    def check_host(self) -> tuple[str, ...]:
        """What the shape policy names that the host does not have (asks the driver)."""
        topology, online_count = self._driver.host_topology()
        return host_shape(topology, (), self.shape_policy, online_count).problems

    def record(self, measurement: Measurement) -> AuditResult:
        """Write a measurement in one transaction, then (if configured) report the provider
        to Placement, within what remains of the half's deadline."""
        started = time.monotonic()
        # the driver reports one node per host: every other row of this host is gone
        values, shared, use = measurement.values, measurement.shared, measurement.devices
        rows = None
        if use is not None:
            offered = [nova_format.pci_device_values(state) for state in use.offered]
            rows = {values.hypervisor_hostname: offered}
        try:
            self._writing_to_database = True
            self._writing.note("the database, reconciling host", self.host)
            reconciled = self._store.reconcile_compute_nodes(self.host, [values], shared, rows)
            self._writing_to_database = False
            if self._last_audit is not None:
                self._writing.note("writing", self._last_audit.path)
                self._last_audit.write(self.host, measurement.resources)
            placed, drifted = self._report(measurement, reconciled, started)
        finally:
            self._writing.clear()
        least = reconciled.disk_available_least.get(values.hypervisor_hostname)
        if least is not None:  # on shared storage: counting the other hosts' disks
            values = dataclasses.replace(values, disk_available_least=least)
        return AuditResult(
            host=self.host,
            resources=measurement.resources,
            values=values,
            changed=reconciled.changed,
            duration_s=time.perf_counter() - measurement.started,
            shape=measurement.shape,
            devices=measurement.devices,
            rows_read=reconciled.read,
            beat=reconciled.sent,
            placement=placed,
            drift=drifted,
        )

    def beat(self) -> None:
        """The heartbeat alone, between audits: the row the last audit wrote stands."""
        try:
            self._writing_to_database = True
            self._writing.note("the database, heartbeat of host", self.host)
            self._store.beat(self.host)
        finally:
            self._writing_to_database = False
            self._writing.clear()

    def beat_due(self) -> float | None:
        """When the heartbeat is due on its own (time.monotonic()); None: only audits beat."""
        return self._store.beat_due(self.host)

    def _report(
        self, measurement: Measurement, reconciled: Reconciled, started: float
    ) -> tuple[SyncOutcome | None, tuple[Drift, ...] | None]:
        """The row is committed: Placement's faults cost the report only."""
        values = measurement.values
        uuid = reconciled.uuids.get(values.hypervisor_hostname)
        if self._placement is None or uuid is None:
            return None, None
        self._writing.note("Placement, reporting provider", values.hypervisor_hostname)
        tree = provider_tree(
            uuid,
            measurement.resources,
            values,
            self.provider_policy,
            reconciled.shared_overcommit_bytes,
            measurement.devices,
            self._said,
        )
        now = time.monotonic()
        deadline = min(now + PLACEMENT_BUDGET_S, started + CALL_DEADLINE_S - PLACEMENT_MARGIN_S)
        guests = measurement.resources.guests
        outcome = self._placement.sync(tree, deadline, self._drift.due(guests))
        return outcome, self._drift.compared(outcome.allocations, guests)

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


def _domains_by_flavor(resources: HostResources) -> tuple[tuple[str, int], ...]:
    """Domains without Nova's metadata (made by other tools, or a flavor name that did not
    parse) count under ""."""
    counts = collections.Counter(
        (domain.instance.flavor and domain.instance.flavor.name) or ""
        for domain in resources.nova_domains
    )
    counts[""] += sum(count for _state, count in resources.domain_states) - len(
        resources.nova_domains
    )
    return tuple(sorted(counts.items()))
