"""The libvirt driver: one HostResources per audit, in bytes and counts.

It lives as long as the daemon, and so do the caches of its DomainLister and DeviceLister
(domain and node device XML, read again when libvirt signals a change, domains also in a
slow round robin) and DiskMeter (image headers, logged problems): a steady-state audit
parses no XML and reads no header: one getAllDomainStats, a few XMLDesc calls, one stat per
file disk.

The host's shape changes without a libvirtd restart: a CPU taken offline or online, a huge
page pool resized (sysfs nr_hugepages). Only the capabilities give the pools' totals, and
libvirt builds them afresh on each call (1-4 ms in libvirtd), so each audit makes the two
cheap calls it needs anyway: the online CPUs (virNodeGetCPUMap, which the capabilities do
not tell reliably) and the free pages of every cell and size (virNodeGetFreePages); it
reads and parses the capabilities again only when these say the shape may have changed:
the online CPUs differ from the last audit's, or the free count of a huge page pool
changed (a resize always changes it; a guest with huge pages started or stopped costs one
needless read). An idle host's audit makes no capabilities call. A new connection reads
them, and what only a libvirtd restart changes (hostname, version, the CPU model and its
expanded features, one baselineCPU call) once; and, given a GuestFeaturesReader (when the
provider is reported to Placement), the domain capabilities of the host's architecture,
which libvirt refuses on the read-only connection (guest_features.py opens a read-write one
for them).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import libvirt

from resource_tracker.exception import (
    HypervisorUnavailable,
    ResourceTrackerError,
    StorageUnavailable,
)
from resource_tracker.resources import (
    CpuInfo,
    DomainSweep,
    GuestFeatures,
    HostDevices,
    HostDevUse,
    HostResources,
    HostTopology,
)
from resource_tracker.virt import disk
from resource_tracker.virt.driver import Activity, ComputeDriver
from resource_tracker.virt.libvirt import capabilities, host
from resource_tracker.virt.libvirt.connection import LibvirtConnection, failure
from resource_tracker.virt.libvirt.device_lister import DeviceLister
from resource_tracker.virt.libvirt.domain_sums import DomainSums, device_users, domain_sums
from resource_tracker.virt.libvirt.domains import Domain, DomainLister
from resource_tracker.virt.libvirt.guest_features import GuestFeaturesReader

LOG = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _HostIdentity:
    """Facts that only change when libvirtd restarts, which also ends the connection."""

    hostname: str
    hypervisor_type: str
    hypervisor_version: int
    cpu_info: CpuInfo
    libvirt_version: int


@dataclass(frozen=True, slots=True)
class _Shape:
    """The topology parsed from the capabilities read last (free counts not filled in) and
    what the cheap calls said just before that read, to tell when to read them again."""

    topology: HostTopology
    online: frozenset[int] | None
    huge_pages_free: tuple[int | None, ...]


class LibvirtDriver(ComputeDriver):
    def __init__(
        self,
        connection: LibvirtConnection,
        storage: disk.Storage,
        disk_meter: disk.DiskMeter | None = None,
        devices: DeviceLister | None = None,
        domains: DomainLister | None = None,
        guest_reader: GuestFeaturesReader | None = None,
    ):
        self._connection = connection
        self._storage = storage
        self._domains = domains or DomainLister()
        self._disks = disk_meter or disk.DiskMeter()
        self._devices = devices or DeviceLister()
        connection.before_close(self._domains.disconnect)
        connection.before_close(self._devices.disconnect)
        self._identity: tuple[libvirt.virConnect, _HostIdentity] | None = None
        self._shape: _Shape | None = None
        self._activity = Activity()
        self._on_storage = False  # whether the call in progress is on local storage
        self._guest_reader = guest_reader
        self._sums: tuple[tuple[Domain, ...], DomainSums] | None = None

    def waiting_on(self) -> str | None:
        return self._activity.describe()

    def not_answering(self, message: str) -> ResourceTrackerError:
        if self._on_storage:
            return StorageUnavailable(message)
        return HypervisorUnavailable(message)

    def get_host_resources(self) -> HostResources:
        try:
            return self._audit()
        finally:
            self._activity.clear()
            self._on_storage = False

    def _audit(self) -> HostResources:
        activity = self._activity
        activity.note("connecting to libvirt at", self._connection.uri)
        conn = self._connection.get()
        try:
            activity.note("libvirt host facts")
            info = conn.getInfo()
            memory_total = host.memory_total_bytes(conn, info)
            identity, topology = self._host_facts(conn, info)
            guest_features = self._guest_features(conn, identity.cpu_info.arch)
            reads = self._domains.xml_reads
            domains = self._domains.list(conn, activity)
            reads = self._domains.xml_reads - reads
            host_devices = self._devices.list(conn, activity)
        except (libvirt.libvirtError, SystemError) as error:
            raise self._unavailable(error) from error
        self._on_storage = True
        activity.note("measuring the storage")
        storage = self._storage.measure()
        sums = self._sums_of(domains)
        disks = self._disks.measure(sums.disks, activity.note)
        activity.note("measuring the storage's images")
        disks += self._storage.measure_images(sums.disks)
        if LOG.isEnabledFor(logging.DEBUG):
            _log_disks(disks)
        return HostResources(
            hypervisor_hostname=identity.hostname,
            hypervisor_type=identity.hypervisor_type,
            hypervisor_version=identity.hypervisor_version,
            cpu_info=identity.cpu_info,
            vcpus=host.vcpu_count(info),
            vcpus_used=sums.vcpus_used,
            memory_total_bytes=memory_total,
            memory_used_bytes=sums.memory_used_bytes,
            running_vms=sums.running_vms,
            busy_vms=sums.busy_vms,
            storage=storage,
            disks=disks,
            vcpus_held=sums.vcpus_held,
            memory_held_bytes=sums.memory_held_bytes,
            topology=topology,
            placements=sums.placements,
            domain_states=sums.domain_states,
            devices=host_devices,
            device_users=sums.device_users,
            nova_domains=sums.nova_domains,
            domain_xml_reads=reads,
            guests=sums.guests,
            guest_features=guest_features,
            libvirt_version=identity.libvirt_version,
        )

    def _sums_of(self, domains: list[Domain]) -> DomainSums:
        """domain_sums, worked out again only when the domains differ from the last audit's."""
        listed = tuple(domains)
        if self._sums is None or self._sums[0] != listed:
            self._sums = (listed, domain_sums(listed))
        return self._sums[1]

    def sweep(self) -> DomainSweep:
        """The domain XML of a round-robin share, for changes libvirt sends no event for."""
        try:
            return self._domains.sweep(self._connection.get(), self._activity)
        except (libvirt.libvirtError, SystemError) as error:
            raise self._unavailable(error) from error
        finally:
            self._activity.clear()

    def host_topology(self) -> tuple[HostTopology, int]:
        try:
            conn = self._connection.get()
            info = conn.getInfo()
            return self._host_facts(conn, info)[1], host.vcpu_count(info)
        except (libvirt.libvirtError, SystemError) as error:
            raise self._unavailable(error) from error

    def host_devices(self) -> tuple[HostDevices, tuple[HostDevUse, ...]]:
        """The host's devices and the domains they are assigned to, without the rest of an
        audit (for `resource-tracker-manage devices list --all`)."""
        try:
            conn = self._connection.get()
            domains = self._domains.list(conn)
            return self._devices.list(conn), device_users(domains)
        except (libvirt.libvirtError, SystemError) as error:
            raise self._unavailable(error) from error

    def close(self) -> None:
        self._connection.reset()
        self._storage.close()
        self._identity = None
        self._shape = None

    def _unavailable(self, error: Exception) -> HypervisorUnavailable:
        """What a failed libvirt call means for the audit (re-raises what is not one)."""
        message = failure(error)
        if message is None:
            raise error
        self._connection.reset()
        return HypervisorUnavailable(f"libvirt at {self._connection.uri} failed: {message}")

    def _host_facts(
        self, conn: libvirt.virConnect, info: list
    ) -> tuple[_HostIdentity, HostTopology]:
        """What libvirt says of the host: the identity (once per connection) and its shape
        now, with the free pages (see the module's doc)."""
        shape = self._shape
        if self._identity is None or self._identity[0] is not conn or shape is None:
            return self._connected(conn, info)
        identity = self._identity[1]
        online = host.online_cpus(conn, identity.hypervisor_type)
        self._activity.note("libvirt free pages")
        free = host.free_pages(conn, shape.topology)
        huge = host.huge_pages_free(shape.topology, free)
        if online == shape.online and huge == shape.huge_pages_free:
            return identity, host.with_free_pages(shape.topology, free)
        LOG.debug("the host's online CPUs or huge pages changed: reading its capabilities")
        self._activity.note("libvirt capabilities")
        topology = capabilities.parse(conn.getCapabilities(), online).topology
        if _layout(topology) != _layout(shape.topology):  # cells or page sizes changed
            free = host.free_pages(conn, topology)
        self._shape = _Shape(topology, online, host.huge_pages_free(topology, free))
        return identity, host.with_free_pages(topology, free)

    def _connected(
        self, conn: libvirt.virConnect, info: list
    ) -> tuple[_HostIdentity, HostTopology]:
        """The identity and shape read on a new connection. The free pages are read after
        the capabilities (they say which to read): a pool resized in between is counted
        when its free count next changes."""
        xml = conn.getCapabilities()
        hypervisor_type = conn.getType()
        online = host.online_cpus(conn, hypervisor_type)
        caps = capabilities.parse(xml, online)
        identity = _HostIdentity(
            hostname=conn.getHostname(),
            hypervisor_type=hypervisor_type,
            hypervisor_version=conn.getVersion(),
            cpu_info=host.cpu_info(caps, info, host.expanded_features(conn, caps.cpu)),
            libvirt_version=conn.getLibVersion(),
        )
        self._activity.note("libvirt free pages")
        free = host.free_pages(conn, caps.topology)
        self._identity = (conn, identity)
        self._shape = _Shape(caps.topology, online, host.huge_pages_free(caps.topology, free))
        return identity, host.with_free_pages(caps.topology, free)

    def _guest_features(self, conn: libvirt.virConnect, arch: str | None) -> GuestFeatures | None:
        """The domain capabilities of the host's architecture, through the reader's own
        read-write connection (guest_features.py: once per audit connection), or None:
        no reader (not asked for), or libvirt did not give them; by audits only."""
        if self._guest_reader is None:
            return None
        self._activity.note("libvirt domain capabilities")
        return self._guest_reader.features(conn, arch)


def _layout(topology: HostTopology) -> tuple[tuple[int, tuple[int, ...]], ...]:
    """The cells and their page sizes: what the free pages are read for."""
    return tuple(
        (cell.id, tuple(pool.size_bytes for pool in cell.pages)) for cell in topology.cells
    )


def _log_disks(disks) -> None:
    for usage in disks:
        LOG.debug(
            "disk %s of %s: %s %s, virtual %s B, allocated %d B, over-commit %d B%s%s",
            usage.target,
            usage.domain,
            usage.format,
            usage.path,
            usage.virtual_bytes,
            usage.allocated_bytes,
            usage.overcommit_bytes,
            f", data file {usage.data_file}" if usage.data_file else "",
            f" ({usage.problem})" if usage.problem else "",
        )
