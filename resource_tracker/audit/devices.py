"""Who uses the host's devices, which are offered, and what is left: pure, records in and out.

PCI state, in Nova's words (objects.PciDevice allocate, pci/manager.py):
- `allocated` to a domain when its XML assigns the function to it (its `<hostdev>` or
  `<interface type='hostdev'>` names the address), whether the domain runs or is shut off:
  Nova allocates a device to an instance when it is built and frees it only when the
  instance goes, so a stopped instance keeps it (libvirt lends it back to the host while
  the domain is off, but the domain takes it again when it starts). The domain's UUID is
  kept, a running domain's where two name the function. Nova's `claimed` is a build in
  flight, between the claim and the domain's definition: nothing a domain XML shows;
- `unavailable`: a PF while one of its VFs (or vdpa devices) is allocated, and those
  while their PF is (Nova's `unclaimable` is the same for a claimed one: never here);
- `available` otherwise.

Pools (Nova's PciDeviceStats): the offered devices that are available, grouped by
vendor_id, product_id, numa_node and tags: dev_type, `address` (a VF's PF, else the
device's own: Nova master splits pools per PF), `parent_ifname` when the device has one
(a VF's PF's interface: Nova matches it against a Neutron port's), remote_managed "false"
for PFs, VFs and vdpa devices unless the spec says, and the offering spec's tags but
resource_class, traits, rp_uuids and rp_uuid. A pool's count is its free devices; a pool
with none is left out, as Nova drops a pool whose count reaches 0.

Mediated devices, per parent and type: libvirt's available instances (more mdevs it can
create), the mdevs that exist, those used by active domains, and the orphans that no
domain's XML, active or shut off, names. free = available instances + orphans: what new
guests can get without taking an mdev a stopped domain will want back.

DeviceUse holds all three for one audit (device_use builds it from the driver's report);
the tracker writes it, the daemon's device gauges show it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from resource_tracker.audit import device_spec
from resource_tracker.audit.device_spec import DeviceSpec
from resource_tracker.resources import (
    TYPE_PF,
    TYPE_VDPA,
    TYPE_VF,
    HostDevices,
    HostDevUse,
    HostResources,
    PciDevice,
)

AVAILABLE, ALLOCATED, UNAVAILABLE = "available", "allocated", "unavailable"
POOL_IGNORED_TAGS = frozenset({"resource_class", "traits", "rp_uuids", "rp_uuid"})


@dataclass(frozen=True, slots=True)
class DeviceState:
    device: PciDevice
    status: str
    instance_uuid: str | None = None
    spec: DeviceSpec | None = None  # the spec that offers it; None: not offered


@dataclass(frozen=True, slots=True)
class Pool:
    vendor_id: str
    product_id: str
    numa_node: int | None
    tags: tuple[tuple[str, str | None], ...]  # sorted, dev_type among them
    count: int


@dataclass(frozen=True, slots=True)
class MdevCapacity:
    parent: str
    type_id: str
    name: str | None
    device_api: str | None
    available_instances: int
    existing: int
    used: int
    orphaned: tuple[str, ...]  # UUIDs

    @property
    def free(self) -> int:
        return self.available_instances + len(self.orphaned)


def device_states(
    devices: HostDevices, users: Sequence[HostDevUse], specs: Sequence[DeviceSpec]
) -> tuple[DeviceState, ...]:
    """Every PCI device of the host with its state and the spec offering it, by address."""
    owners: dict[str, str] = {}  # address: domain UUID
    for use in sorted(users, key=lambda use: (not use.active, use.domain_uuid)):
        for address in use.pci:
            owners.setdefault(address, use.domain_uuid)
    related = _relatives(devices.pci)
    held = {relative for address in owners for relative in related.get(address, ())}
    states = []
    for device in devices.pci:
        uuid = owners.get(device.address)
        if uuid is not None:
            status = ALLOCATED
        else:
            status = UNAVAILABLE if device.address in held else AVAILABLE
        spec = device_spec.offering(specs, device)
        states.append(DeviceState(device, status, uuid, spec))
    return tuple(states)


def _relatives(pci: Sequence[PciDevice]) -> dict[str, set[str]]:
    """A VF's PF and a PF's VFs, by address. A PF lists its VFs too: a VF whose own XML
    could not be read still holds its PF."""
    related = defaultdict(set)
    for device in pci:
        pairs = [(device.parent_addr, device.address)] if device.parent_addr else []
        pairs += [(device.address, vf) for vf in device.vf_addrs]
        for pf, vf in pairs:
            related[pf].add(vf)
            related[vf].add(pf)
    return related


def pools(states: Sequence[DeviceState]) -> tuple[Pool, ...]:
    counts: Counter = Counter()
    for state in states:
        if state.spec is not None and state.status == AVAILABLE:
            counts[_pool_key(state.device, state.spec)] += 1
    return tuple(
        Pool(vendor, product, numa, tags, count)
        for (vendor, product, numa, tags), count in sorted(counts.items(), key=_pool_order)
    )


def _pool_key(device: PciDevice, spec: DeviceSpec):
    tags = {key: value for key, value in spec.tags if key not in POOL_IGNORED_TAGS}
    tags["dev_type"] = device.dev_type
    tags["address"] = device.parent_addr or device.address
    if device.parent_ifname:
        tags["parent_ifname"] = device.parent_ifname
    if device.dev_type in (TYPE_PF, TYPE_VF, TYPE_VDPA):
        tags.setdefault("remote_managed", "false")
    return device.vendor_id, device.product_id, device.numa_node, tuple(sorted(tags.items()))


def _pool_order(item):
    (vendor, product, numa, tags), _count = item
    return vendor, product, -1 if numa is None else numa, tags


def mdev_capacity(devices: HostDevices, users: Sequence[HostDevUse]) -> tuple[MdevCapacity, ...]:
    """Per parent and type, sorted; a type with mdevs but no longer listed counts 0 more."""
    used = {uuid for use in users if use.active for uuid in use.mdevs}
    named = {uuid for use in users for uuid in use.mdevs}
    mdevs = defaultdict(list)
    for mdev in devices.mdevs:
        mdevs[(mdev.parent, mdev.type_id)].append(mdev.uuid)
    types = {(t.parent, t.type_id): t for t in devices.mdev_types}
    capacity = []
    for key in sorted(set(types) | set(mdevs)):
        listed, uuids = types.get(key), sorted(mdevs.get(key, ()))
        capacity.append(
            MdevCapacity(
                parent=key[0],
                type_id=key[1],
                name=listed.name if listed else None,
                device_api=listed.device_api if listed else None,
                available_instances=listed.available_instances if listed else 0,
                existing=len(uuids),
                used=sum(uuid in used for uuid in uuids),
                orphaned=tuple(uuid for uuid in uuids if uuid not in named),
            )
        )
    return tuple(capacity)


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
    states = device_states(resources.devices, users, specs)
    return DeviceUse(
        states,
        pools(states),
        mdev_capacity(resources.devices, users),
    )
