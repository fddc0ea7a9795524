"""The immutable records every layer shares: what a host has and what its domains use, and
the table rows the audit makes of them.

The driver builds the host's records (HostResources and what it holds, PciDevice, Mdev, ...)
in base units (bytes and counts). The audit turns them into rows (ComputeNodeValues,
PciDeviceValues) in the table's units: the MB/GB columns in audit/tracker.py, the JSON
columns' MiB and KiB (Nova's formats) in audit/nova_format.py; the units are in units.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
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
class MaxPhysAddr:
    """How many physical address bits guests get (`<maxphysaddr mode bits>`)."""

    mode: str
    bits: int | None = None


@dataclass(frozen=True, slots=True)
class CpuInfo:
    """The host CPU as the capabilities describe it, with every feature its model implies."""

    arch: str
    model: str | None
    vendor: str | None
    topology: CpuTopology
    features: tuple[str, ...]
    maxphysaddr: MaxPhysAddr | None = None

    def as_dict(self) -> dict:
        """Nova's cpu_info: maxphysaddr only when known, bits only when given."""
        info = dataclasses.asdict(self) | {"features": list(self.features)}
        if self.maxphysaddr is None:
            del info["maxphysaddr"]
        elif self.maxphysaddr.bits is None:
            del info["maxphysaddr"]["bits"]
        return info


@dataclass(frozen=True, slots=True)
class PagePool:
    """The memory pages of one size in one NUMA cell.

    `free` is what the kernel has free right now (virNodeGetFreePages, every audit); None
    where libvirt does not say (its test driver).
    """

    size_bytes: int
    total: int
    free: int | None = None


@dataclass(frozen=True, slots=True)
class NumaCell:
    """One host NUMA node (`<topology><cells><cell>` of the capabilities).

    `cpus` are all the CPUs the cell lists; `online_cpus` those online (virNodeGetCPUMap
    where libvirt answers it, else those it lists with siblings: see capabilities.py).
    `siblings` are the SMT thread groups of the online CPUs; `socket` the socket of its
    online CPUs when they share one.
    """

    id: int
    cpus: frozenset[int]
    online_cpus: frozenset[int]
    siblings: tuple[frozenset[int], ...]
    socket: int | None
    memory_bytes: int
    pages: tuple[PagePool, ...]  # smallest page size first


@dataclass(frozen=True, slots=True)
class GuestType:
    """A kind of guest the hypervisor runs: an `<guest>` of the capabilities, one domain type."""

    arch: str
    domain_type: str
    os_type: str


@dataclass(frozen=True, slots=True)
class HostTopology:
    """The host's shape: NUMA cells (none on some drivers) and the guests it can run."""

    cells: tuple[NumaCell, ...]
    guests: tuple[GuestType, ...]

    @property
    def online_cpus(self) -> frozenset[int] | None:
        """The online CPUs, or None when the capabilities list no cells to tell them by."""
        if not self.cells:
            return None
        return frozenset().union(*(cell.online_cpus for cell in self.cells))


DEFAULT_HUGE_PAGES = 0  # GuestNumaCell.page_size_bytes of `<hugepages/>` without a size


@dataclass(frozen=True, slots=True)
class GuestNumaCell:
    """A guest NUMA cell (the whole guest when its XML has none) and where its XML binds it.

    `host_cells` are the host NUMA nodes its memory is bound to (`<numatune>`); empty when
    unbound. `page_size_bytes` is the huge page size backing it (`<memoryBacking>`),
    DEFAULT_HUGE_PAGES for the host's default huge page size, None for ordinary pages.
    """

    vcpus: frozenset[int]
    memory_bytes: int
    host_cells: frozenset[int] = frozenset()
    page_size_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a domain's XML puts its vCPUs and memory on the host.

    `vcpu_pins` are (vCPU, host CPUs) of the `<vcpupin>`s: Nova writes one for every vCPU of
    a NUMA guest, to one CPU where it is dedicated, to the cell's shared CPUs where it
    floats; a `<vcpu cpuset>` (Nova's way to keep a guest without NUMA cells on the shared
    CPUs) pins nothing. `emulator_pins` are the CPUs of `<emulatorpin>` (empty: not pinned).
    `thread_isolate`: the flavor in Nova's metadata asks `hw:cpu_thread_policy=isolate`, so
    the SMT siblings of its dedicated CPUs are held too.
    """

    numa: tuple[GuestNumaCell, ...] = ()
    vcpu_pins: tuple[tuple[int, frozenset[int]], ...] = ()
    emulator_pins: frozenset[int] = frozenset()
    thread_isolate: bool = False


@dataclass(frozen=True, slots=True)
class NovaFlavor:
    """The flavor a Nova-made domain was built from, as its `<nova:flavor>` says (MiB, GB)."""

    name: str | None = None
    vcpus: int | None = None
    memory_mb: int | None = None
    disk_gb: int | None = None
    swap_mb: int | None = None
    ephemeral_gb: int | None = None
    cpu_thread_policy: str | None = None  # extra spec hw:cpu_thread_policy


@dataclass(frozen=True, slots=True)
class NovaInstance:
    """What a domain's `<nova:instance>` metadata says (virt/libvirt/nova_metadata.py); a
    part that is missing or malformed is None.

    `os_type` is the image's `os_type` property, which Nova copies into the instance at
    boot; `os_type_known` is False when the metadata has no image properties to tell by."""

    flavor: NovaFlavor | None = None
    project_id: str | None = None
    user_id: str | None = None
    image_id: str | None = None
    os_type: str | None = None
    os_type_known: bool = False


@dataclass(frozen=True, slots=True)
class NovaDomain:
    """A domain that carries Nova's metadata, active or not."""

    domain: str
    active: bool
    instance: NovaInstance


@dataclass(frozen=True, slots=True)
class DomainSweep:
    """What one sweep between audits did: the domain XML it read, and the domains whose XML
    read differently (a change libvirt sent no event for)."""

    xml_reads: int = 0
    changed: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class GuestSize:
    """What one domain, active or not, is defined with: its uuid (Nova's instance uuid, the
    consumer of its allocations in Placement), vCPUs and memory."""

    uuid: str
    name: str
    vcpus: int
    memory_bytes: int


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
class GuestFeatures:
    """What libvirt's domain capabilities (virConnectGetDomainCapabilities, for the host's
    architecture) say a guest can have: what Nova's capability traits are made from."""

    disk_buses: frozenset[str] = frozenset()
    video_models: frozenset[str] = frozenset()
    tpm_models: tuple[str, ...] = ()
    tpm_versions: tuple[str, ...] | None = None  # None: libvirt does not say (before 8.6)
    tpm_emulator: bool = False  # <tpm supported='yes'> with the backend model 'emulator'
    secure_boot: bool = False  # a loader with <enum name='secure'> offering 'yes'
    sev: bool = False  # <features><sev supported='yes'>
    sev_max_guests: int | None = None  # its <maxGuests>, where given
    sev_max_es_guests: int | None = None
    sev_snp: bool = False  # <launchSecurity supported='yes'> offering the sectype sev-snp
    # the kvm_amd module's parameters that are on, of sev, sev_es, sev_snp (the host's
    # kernel, not libvirt: read beside the domain capabilities, as Nova reads them)
    kvm_amd: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class HostResources:
    """One audit's snapshot of a host.

    `vcpus_used`, `memory_used_bytes` and `running_vms` count active domains (running or
    paused); `vcpus_held` and `memory_held_bytes` count every domain, shut-off ones too
    (Nova 34's tracker counts a stopped instance: it keeps its claim and may start at any
    moment); `busy_vms` counts domains with an operation under way (migration, save,
    snapshot, shutdown); `disks` holds every file disk of every domain, active or shut off,
    since a stopped domain's disks still take local storage.
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
    vcpus_held: int
    memory_held_bytes: int
    topology: HostTopology | None = None
    placements: tuple[Placement, ...] = ()  # of every domain, shut-off ones too
    domain_states: tuple[tuple[str, int], ...] = ()  # (libvirt state name, domains), sorted
    devices: HostDevices | None = None  # None: not read (a driver without devices)
    device_users: tuple[HostDevUse, ...] = ()  # the domains host devices are assigned to
    nova_domains: tuple[NovaDomain, ...] = ()  # the domains with Nova's metadata
    domain_xml_reads: int = 0  # domain XML this audit read
    guests: tuple[GuestSize, ...] = ()  # every domain's size, by its uuid
    guest_features: GuestFeatures | None = None  # None: not known (a read-only connection)
    libvirt_version: int | None = None  # virConnectGetLibVersion: major*10^6+minor*10^3+micro

    @property
    def disk_overcommit_bytes(self) -> int:
        return sum(disk.overcommit_bytes for disk in self.disks)

    @property
    def instances(self) -> int:
        """Every domain, whatever its state (Nova's num_instances)."""
        return sum(count for _state, count in self.domain_states)


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
    numa_topology: str | None = None
    supported_instances: str | None = None
    stats: str | None = None
    host_ip: str | None = None
    pcpus: int | None = None
    pcpus_used: int | None = None
    storage_id: str | None = None
    disk_overcommit_bytes: int = 0
    pci_stats: str | None = None
    mdev_capacity: str | None = None
    metrics: str | None = None


@dataclass(frozen=True, slots=True)
class Reconciled:
    """What a reconcile did: whether any row changed, the disk_available_least it gave each
    row on shared storage (by hypervisor_hostname), worked out in the transaction, and each
    written row's uuid (its resource provider's in Placement); on shared storage, what the
    disks of every live host on it may still grow into (None: not on shared storage)."""

    changed: bool
    disk_available_least: Mapping[str, int] = dataclasses.field(default_factory=dict)
    uuids: Mapping[str, str] = dataclasses.field(default_factory=dict)
    shared_overcommit_bytes: int | None = None
    read: bool = True  # False: the heartbeat alone (nothing changed since the last commit)
    sent: bool = True  # False: not even the heartbeat (younger than report_interval)


# Devices: PCI functions, mediated device types and mediated devices (virt/libvirt/nodedev.py)

TYPE_PF, TYPE_VF, TYPE_PCI = "type-PF", "type-VF", "type-PCI"  # Nova's PciDeviceType
TYPE_VDPA = "vdpa"  # a VF that is the parent of a vDPA node device
# The fields of a PCI address `dddd:bb:ss.f`: name, largest value, hex digits.
PCI_ADDRESS_FIELDS = (
    ("domain", 0xFFFF, 4),
    ("bus", 0xFF, 2),
    ("slot", 0x1F, 2),
    ("function", 7, 1),
)


@dataclass(frozen=True, slots=True)
class PciDevice:
    """One host PCI function, in Nova's formats.

    `address` is `dddd:bb:ss.f` and `vendor_id`/`product_id` four hex digits, lower case;
    `dev_type` is type-PF (SR-IOV capable), type-VF (`parent_addr` is its PF), vdpa (a VF
    with a vDPA device) or type-PCI; `name` is libvirt's node device name (Nova's dev_id);
    `class_id` the PCI class code (`0x020000`); `vf_addrs` the VFs a PF lists;
    `card_serial_number` from the device's VPD (a VF's, else its PF's).
    From the host's network interfaces (libvirt's net node devices under the function):
    `mac_address` a PF's; for a VF `parent_ifname` its PF's interface, `network_features`
    its own interface's features, `pf_mac_address` and `vf_num` (its place among its PF's
    VFs) when the PF has an interface. See nodedev.py.
    """

    name: str
    address: str
    vendor_id: str
    product_id: str
    dev_type: str
    class_id: str | None = None
    numa_node: int | None = None
    iommu_group: int | None = None
    parent_addr: str | None = None
    vf_addrs: tuple[str, ...] = ()
    card_serial_number: str | None = None
    mac_address: str | None = None
    parent_ifname: str | None = None
    network_features: tuple[str, ...] = ()
    pf_mac_address: str | None = None
    vf_num: int | None = None


@dataclass(frozen=True, slots=True)
class MdevType:
    """A mediated device type a parent device offers (a vGPU type of a GPU, for one).

    `parent` is the parent's PCI address, or its node device name when it is no PCI device;
    `available_instances` is how many more mdevs of the type the parent can create now.
    """

    parent: str
    type_id: str
    name: str | None
    device_api: str | None
    available_instances: int


@dataclass(frozen=True, slots=True)
class Mdev:
    """A mediated device that exists on the host; `parent` as in MdevType."""

    uuid: str
    parent: str
    type_id: str


@dataclass(frozen=True, slots=True)
class HostDevices:
    """The host's device inventory; `xml_reads` counts the node device XML this audit read."""

    pci: tuple[PciDevice, ...] = ()
    mdev_types: tuple[MdevType, ...] = ()
    mdevs: tuple[Mdev, ...] = ()
    xml_reads: int = 0


@dataclass(frozen=True, slots=True)
class HostDevUse:
    """The host devices one domain's XML assigns to it: PCI addresses and mdev UUIDs."""

    domain_uuid: str
    domain: str
    active: bool
    pci: tuple[str, ...] = ()
    mdevs: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PciDeviceValues:
    """One pci_devices row's values (Nova's columns); extra_info is JSON of strings."""

    address: str
    vendor_id: str
    product_id: str
    dev_type: str
    dev_id: str
    label: str
    status: str
    instance_uuid: str | None
    numa_node: int | None
    parent_addr: str | None
    extra_info: str
