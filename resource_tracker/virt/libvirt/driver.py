"""The libvirt driver: one HostResources per audit, in bytes and counts.

It lives as long as the daemon, and so do the caches of its DomainLister and DeviceLister
(domain and node device XML, read again when libvirt signals a change, domains also in a
slow round robin) and DiskMeter (image headers, logged problems): a steady-state audit
parses no XML and reads no header: one getAllDomainStats, a few XMLDesc calls, one stat per
file disk.

The host's shape changes without a libvirtd restart: a CPU taken offline or online, a huge
page pool resized (sysfs nr_hugepages). So each audit reads the capabilities (libvirt
builds them afresh on each call: the only call that gives the pools' totals; a few ms in
libvirtd), the online CPUs (virNodeGetCPUMap, which the capabilities do
not tell reliably) and the free pages of every cell and size (virNodeGetFreePages); the
capabilities are parsed again only when their text or the online CPUs changed. What only
a libvirtd restart changes (hostname, version, the CPU model and its expanded features,
one baselineCPU call) is read once per connection.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import libvirt

from resource_tracker.exception import (
    HypervisorUnavailable,
    ResourceTrackerError,
    StorageUnavailable,
)
from resource_tracker.resources import (
    CpuInfo,
    DomainDisk,
    HostDevUse,
    HostResources,
    HostTopology,
)
from resource_tracker.virt import disk
from resource_tracker.virt.driver import Activity, ComputeDriver
from resource_tracker.virt.libvirt import capabilities, host
from resource_tracker.virt.libvirt.connection import LibvirtConnection, failure
from resource_tracker.virt.libvirt.device_lister import DeviceLister
from resource_tracker.virt.libvirt.domains import DomainLister

LOG = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _HostIdentity:
    """Facts that only change when libvirtd restarts, which also ends the connection."""

    hostname: str
    hypervisor_type: str
    hypervisor_version: int
    cpu_info: CpuInfo


@dataclass(frozen=True, slots=True)
class _Shape:
    """The topology parsed from one capabilities text and online CPU set."""

    capabilities_xml: str
    online: frozenset[int] | None
    topology: HostTopology


class LibvirtDriver(ComputeDriver):
    def __init__(
        self,
        connection: LibvirtConnection,
        storage: disk.Storage,
        disk_meter: disk.DiskMeter | None = None,
        devices: DeviceLister | None = None,
        domains: DomainLister | None = None,
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
            identity, topology = self._host_facts(conn, info)
            memory_total = host.memory_total_bytes(conn, info)
            activity.note("libvirt free pages")
            topology = host.with_free_pages(conn, topology)
            domains = self._domains.list(conn, activity)
            host_devices = self._devices.list(conn, activity)
        except (libvirt.libvirtError, SystemError) as error:
            raise self._unavailable(error) from error
        self._on_storage = True
        activity.note("measuring the storage")
        storage = self._storage.measure()
        disks = self._disks.measure(_noting(activity, domains))
        activity.note("measuring the storage's images")
        disks += self._storage.measure_images(d for domain in domains for d in domain.disks)
        if LOG.isEnabledFor(logging.DEBUG):
            _log_disks(disks)
        active = [domain for domain in domains if domain.active]
        return HostResources(
            hypervisor_hostname=identity.hostname,
            hypervisor_type=identity.hypervisor_type,
            hypervisor_version=identity.hypervisor_version,
            cpu_info=identity.cpu_info,
            vcpus=host.vcpu_count(info),
            vcpus_used=sum(domain.vcpus for domain in active),
            memory_total_bytes=memory_total,
            memory_used_bytes=sum(domain.memory_bytes for domain in active),
            running_vms=len(active),
            busy_vms=sum(domain.busy for domain in domains),
            storage=storage,
            disks=disks,
            topology=topology,
            placements=tuple(domain.placement for domain in active),
            domain_states=tuple(sorted(collections.Counter(d.state for d in domains).items())),
            devices=host_devices,
            device_users=tuple(
                HostDevUse(d.uuid, d.name, d.active, d.pci_hostdevs, d.mdev_hostdevs)
                for d in domains
                if d.pci_hostdevs or d.mdev_hostdevs
            ),
        )

    def host_topology(self) -> tuple[HostTopology, int]:
        try:
            conn = self._connection.get()
            info = conn.getInfo()
            return self._host_facts(conn, info)[1], host.vcpu_count(info)
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
        now (see the module's doc)."""
        xml = conn.getCapabilities()
        identity = self._host_identity(conn, info, xml)
        online = host.online_cpus(conn, identity.hypervisor_type)
        shape = self._shape
        if shape is None or shape.capabilities_xml != xml or shape.online != online:
            shape = _Shape(xml, online, capabilities.parse(xml, online).topology)
            self._shape = shape
        return identity, shape.topology

    def _host_identity(self, conn: libvirt.virConnect, info: list, xml: str) -> _HostIdentity:
        if self._identity is None or self._identity[0] is not conn:
            caps = capabilities.parse(xml)
            identity = _HostIdentity(
                hostname=conn.getHostname(),
                hypervisor_type=conn.getType(),
                hypervisor_version=conn.getVersion(),
                cpu_info=host.cpu_info(caps, info, host.expanded_features(conn, caps.cpu)),
            )
            self._identity = (conn, identity)
        return self._identity[1]


def _noting(activity: Activity, domains) -> Iterator[DomainDisk]:
    """Every disk of `domains`, noted in `activity` as it is measured (a disk without a
    source, an empty CD-ROM drive, is not: nothing is read for it)."""
    for domain in domains:
        for domain_disk in domain.disks:
            if domain_disk.path:
                activity.note("reading disk", domain_disk.path)
            yield domain_disk


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
