"""The host's node devices (PCI functions, mdev types, mdevs, network interfaces, vDPA
devices), read again only on a change.

Devices change rarely, so their XML is kept from one audit to the next:
- A new connection (the first, or a reconnect: events may have been missed meanwhile)
  reads them all: one listAllDevices (PCI functions, mdevs, devices with mdev types) and
  one XMLDesc each.
- While libvirt sends node device events (LIFECYCLE: created, deleted, defined,
  undefined; UPDATE), an audit reads only the devices an event named since: one lookup and
  one XMLDesc each, none for a device that is gone. What such a change affects elsewhere is
  read with it: a VF's PF (its list of VFs), and after an event about an mdev every device
  that has mdev types (making or removing an mdev changes what its parent, and for SR-IOV
  vGPUs the parent's siblings, can still make). An idle host reads no device XML at all.
- Without events (no event loop, as with `--once`, or a driver without them) every audit
  reads every device; XML that did not change is not parsed again.
A device whose XML cannot be used, or that cannot be read, costs that device only: a
warning when the problem appears or changes (ProblemLog), and it is left out (kept as last
read, if the read failed for a reason other than the device being gone).
"""

from __future__ import annotations

import logging

import libvirt

from resource_tracker.resources import HostDevices
from resource_tracker.virt.driver import Activity
from resource_tracker.virt.libvirt import events, nodedev
from resource_tracker.virt.libvirt.nodedev import NodeDevice
from resource_tracker.virt.problems import ProblemLog

LOG = logging.getLogger(__name__)

LIST_FLAGS = (
    libvirt.VIR_CONNECT_LIST_NODE_DEVICES_CAP_PCI_DEV
    | libvirt.VIR_CONNECT_LIST_NODE_DEVICES_CAP_MDEV
    | libvirt.VIR_CONNECT_LIST_NODE_DEVICES_CAP_MDEV_TYPES
    | libvirt.VIR_CONNECT_LIST_NODE_DEVICES_CAP_NET  # a PCI function's interface
    | libvirt.VIR_CONNECT_LIST_NODE_DEVICES_CAP_VDPA  # makes its VF a vdpa device
)
EVENTS = (libvirt.VIR_NODE_DEVICE_EVENT_ID_LIFECYCLE, libvirt.VIR_NODE_DEVICE_EVENT_ID_UPDATE)


class DeviceLister:
    """The host's devices at every audit, reading only the XML that may have changed."""

    def __init__(self, use_events: bool = True, on_event: events.OnEvent | None = None):
        self._feed = events.Feed(
            events.NODE_DEVICE, EVENTS, use_events, "every audit reads every device", on_event
        )
        self._read_all_once = False  # on this connection
        self._xml: dict[str, str] = {}  # name: the XML last read, of the devices kept
        self._devices: dict[str, NodeDevice] = {}
        self._inventory = HostDevices()
        self._problems = ProblemLog(LOG)
        self.xml_reads = 0  # every XMLDesc since the lister was made

    def list(self, conn: libvirt.virConnect, activity: Activity | None = None) -> HostDevices:
        activity = activity or Activity()
        reads = self.xml_reads
        if self._feed.follow(conn):
            self._read_all_once = False  # events may have been missed meanwhile
        changes = self._feed.changes
        start = changes.generation if changes is not None else 0
        if changes is None or not self._read_all_once:
            changed = self._read_all(conn, activity)
            self._read_all_once = True
        else:
            changed = self._read_changed(conn, set(changes.marked()), activity)
        if changes is not None:
            changes.forget_until(start)  # what was marked since is read next audit
        self._problems.end_audit()
        if changed:
            self._inventory = HostDevices(*nodedev.inventory(list(self._devices.values())))
        inventory = self._inventory
        return HostDevices(
            inventory.pci, inventory.mdev_types, inventory.mdevs, self.xml_reads - reads
        )

    def disconnect(self, conn: libvirt.virConnect) -> None:
        """`conn` is about to be closed. What was read is kept until a new connection reads
        it again."""
        self._feed.disconnect(conn)

    def _read_all(self, conn: libvirt.virConnect, activity: Activity) -> bool:
        activity.note("libvirt listAllDevices")
        try:
            listed = conn.listAllDevices(LIST_FLAGS)
        except libvirt.libvirtError as error:
            if error.get_error_code() != libvirt.VIR_ERR_NO_SUPPORT:
                raise
            message = "libvirt lists no node devices here (%s)"
            self._problems.report("", message, error.get_error_message())
            listed = []
        names = {dev.name() for dev in listed}
        changed = False
        for dev in listed:
            changed |= self._read(dev, dev.name(), activity)
        for name in set(self._devices) - names:
            changed |= self._forget(name)
        return changed

    def _read_changed(self, conn: libvirt.virConnect, names: set[str], activity) -> bool:
        """Read the devices events named, then those their change affects."""
        changed, affected, done = False, set(), set()
        for name in sorted(names):
            before = self._devices.get(name)
            changed |= self._look_up_and_read(conn, name, activity)
            affected |= self._affected_by(before) | self._affected_by(self._devices.get(name))
            done.add(name)
        for name in sorted(affected - done):
            changed |= self._look_up_and_read(conn, name, activity)
        return changed

    def _affected_by(self, device: NodeDevice | None) -> set[str]:
        if device is None:
            return set()
        if device.mdev is not None:
            return {name for name, other in self._devices.items() if other.mdev_types}
        if device.pci is not None and device.pci.parent_addr is not None:
            pf = device.pci.parent_addr
            return {name for name, other in self._devices.items() if other.key == pf}
        return set()

    def _look_up_and_read(self, conn: libvirt.virConnect, name: str, activity) -> bool:
        activity.note("libvirt node device lookup", name)
        try:
            dev = conn.nodeDeviceLookupByName(name)
        except libvirt.libvirtError as error:
            return self._failed(name, error)
        return self._read(dev, name, activity)

    def _read(self, dev: libvirt.virNodeDevice, name: str, activity: Activity) -> bool:
        """Read one device's XML; True if what is kept of it changed."""
        activity.note("libvirt XMLDesc of node device", name)
        self.xml_reads += 1
        try:
            xml = dev.XMLDesc(0)
        except libvirt.libvirtError as error:
            return self._failed(name, error)
        if self._xml.get(name) == xml:
            return False
        try:
            device = nodedev.parse_node_device(xml)
        except nodedev.DeviceXMLError as error:
            self._problems.report(name, "node device %s is left out: %s", name, error)
            return self._forget(name)
        if not device.kept:
            return self._forget(name)  # a device of another kind (USB, storage)
        self._xml[name], self._devices[name] = xml, device
        return True

    def _failed(self, name: str, error: libvirt.libvirtError) -> bool:
        if error.get_error_code() == libvirt.VIR_ERR_NO_NODE_DEVICE:
            return self._forget(name)  # gone since it was listed or named
        message = "cannot read node device %s (%s); kept as last read"
        self._problems.report(name, message, name, error.get_error_message())
        if self._feed.changes is not None:
            self._feed.changes.mark(name)  # try again next audit
        return False

    def _forget(self, name: str) -> bool:
        self._xml.pop(name, None)
        return self._devices.pop(name, None) is not None
