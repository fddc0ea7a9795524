"""DomainLister with domain events on a real libvirtd with QEMU: each kind of change seen at
the next audit by fetching that domain's XML only; an idle host fetches none; a change QEMU
does not signal is found by the sweep between audits."""

from __future__ import annotations

import uuid

import libvirt
import pytest

from resource_tracker.virt.libvirt import events
from resource_tracker.virt.libvirt.domains import DomainLister
from tests.support import images
from tests.support.counting import CountingConnection, after_event
from tests.support.libvirtd import domain_xml

pytestmark = pytest.mark.libvirtd

MiB = 2**20
NEVER = 10**6  # refresh_audits: no round robin within a test
SCSI = "<controller type='scsi' model='virtio-scsi'/>"


class Host:
    """The private libvirtd: a read-write connection to change it, a read-only one (counting
    XMLDesc calls) opened after the event loop started, and a lister on the latter."""

    def __init__(self, libvirtd, refresh_audits: int):
        events.start()  # for the rest of this process: libvirt's loop cannot be unregistered
        self.libvirtd = libvirtd
        self.rw = libvirtd.connect()
        self.conn = CountingConnection(libvirt.openReadOnly(libvirtd.uri))
        self.lister = DomainLister(refresh_audits=refresh_audits)
        self.defined: list[str] = []

    def define(self, name: str, memory_mib: int = 64, vcpus: int = 1, disks: int = 1):
        paths = []
        for index in range(disks):
            path = self.libvirtd.images / f"{name}-{index}.qcow2"
            if not path.exists():
                images.create(path, "qcow2", "1G")
                self.libvirtd.give(path)
            paths.append((str(path), "qcow2"))
        xml = domain_xml(
            name,
            paths,
            memory_mib=memory_mib,
            vcpus=vcpus,
            extra=f"<uuid>{uuid.uuid5(uuid.NAMESPACE_DNS, name)}</uuid>",
        ).replace("<memballoon", SCSI + "<memballoon")
        self.defined.append(name)
        return self.rw.defineXML(xml)

    def audit(self) -> dict:
        return {domain.name: domain for domain in self.lister.list(self.conn)}

    def scsi_disk(self, name: str) -> str:
        path = self.libvirtd.images / f"{name}-scsi.qcow2"
        if not path.exists():
            images.create(path, "qcow2", "1G")
            self.libvirtd.give(path)
        return (
            "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
            f"<source file='{path}'/><target dev='sda' bus='scsi'/></disk>"
        )

    def close(self) -> None:
        self.lister.disconnect(self.conn)
        self.conn.close()
        for name in self.defined:
            try:
                dom = self.rw.lookupByName(name)
            except libvirt.libvirtError:
                continue
            if dom.isActive():
                dom.destroy()
            dom.undefine()
        self.rw.close()


@pytest.fixture
def host(libvirtd):
    host = Host(libvirtd, NEVER)
    yield host
    host.close()


def test_an_idle_real_host_fetches_no_domain_xml_in_a_steady_audit(host):
    host.define("idle-off")
    running = host.define("idle-on")
    running.create()
    host.audit()
    host.conn.take_reads()

    steady = [(host.audit(), host.conn.take_reads())[1] for _ in range(3)]

    assert steady == [{}, {}, {}]


def test_a_disk_attached_then_detached_live(host):
    dom = host.define("hotplug")
    dom.create()
    host.audit()
    disk = host.scsi_disk("hotplug")
    host.conn.take_reads()

    after_event(
        host.lister, dom, lambda: dom.attachDeviceFlags(disk, libvirt.VIR_DOMAIN_AFFECT_LIVE)
    )
    attached = host.audit()
    reads_attached = host.conn.take_reads()
    after_event(
        host.lister, dom, lambda: dom.detachDeviceFlags(disk, libvirt.VIR_DOMAIN_AFFECT_LIVE)
    )
    detached = host.audit()
    reads_detached = host.conn.take_reads()

    assert [d.target for d in attached["hotplug"].disks] == ["vda", "sda"]
    assert [d.target for d in detached["hotplug"].disks] == ["vda"]
    assert reads_attached == reads_detached == {"hotplug": 1}


def test_defined_started_stopped_undefined(host):
    host.audit()

    dom = host.define("life")
    defined = host.audit()
    after_event(host.lister, dom, dom.create)
    started = host.audit()
    after_event(host.lister, dom, dom.destroy)
    stopped = host.audit()
    after_event(host.lister, dom, dom.undefine)
    undefined = host.audit()

    assert not defined["life"].active
    assert started["life"].active and started["life"].vcpus == 1
    assert not stopped["life"].active
    assert "life" not in undefined


def test_vcpus_and_memory_changed_by_a_new_definition(host):
    dom = host.define("resized")
    host.audit()
    host.conn.take_reads()

    change = lambda: host.define("resized", memory_mib=128, vcpus=2)  # noqa: E731
    after_event(host.lister, dom, change)
    found = host.audit()

    assert (found["resized"].vcpus, found["resized"].memory_bytes) == (2, 128 * MiB)
    assert host.conn.take_reads() == {"resized": 1}


def test_vcpus_pinned_live(host):
    dom = host.define("pinned")
    dom.create()
    host.audit()

    after_event(
        host.lister, dom, lambda: dom.pinVcpuFlags(0, (True,), libvirt.VIR_DOMAIN_AFFECT_LIVE)
    )
    found = host.audit()

    assert found["pinned"].placement.vcpu_pins == ((0, frozenset({0})),)


def _vcpus_hot_plugged(host: Host, dom) -> None:
    dom.create()
    host.audit()
    dom.setVcpusFlags(2, libvirt.VIR_DOMAIN_AFFECT_LIVE)


def _disk_attached_to_config(host: Host, dom) -> None:
    dom.attachDeviceFlags(host.scsi_disk(dom.name()), libvirt.VIR_DOMAIN_AFFECT_CONFIG)


def _vcpus_of_config(host: Host, dom) -> None:
    dom.setVcpusFlags(2, libvirt.VIR_DOMAIN_AFFECT_CONFIG)


def _memory_of_config(host: Host, dom) -> None:
    dom.setMemoryFlags(
        128 * 1024, libvirt.VIR_DOMAIN_AFFECT_CONFIG | libvirt.VIR_DOMAIN_MEM_MAXIMUM
    )


def _external_snapshot(host: Host, dom) -> None:
    overlay = host.libvirtd.images / f"{dom.name()}-overlay.qcow2"
    dom.snapshotCreateXML(
        "<domainsnapshot><disks><disk name='vda' snapshot='external'>"
        f"<driver type='qcow2'/><source file='{overlay}'/></disk></disks></domainsnapshot>",
        libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY
        | libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA,
    )


NO_EVENT_CHANGES = {
    "vCPU hot-plug": (_vcpus_hot_plugged, lambda d: d.vcpus == 2),
    "disk attached with AFFECT_CONFIG": (_disk_attached_to_config, lambda d: len(d.disks) == 2),
    "vCPUs set with AFFECT_CONFIG": (_vcpus_of_config, lambda d: d.vcpus == 2),
    "memory set with AFFECT_CONFIG": (_memory_of_config, lambda d: d.memory_bytes == 128 * MiB),
    "external snapshot": (
        _external_snapshot,
        lambda d: d.disks[0].path is not None and d.disks[0].path.endswith("-overlay.qcow2"),
    ),
}


@pytest.mark.parametrize("change", NO_EVENT_CHANGES)
def test_a_change_qemu_does_not_signal_is_found_by_the_sweep_between_audits(libvirtd, change):
    """libvirt 9.0 sends no event for these (on libvirt 11 some send one): the sweep reads
    every domain again within refresh_audits sweeps, keeps the new definition and names the
    domain (the daemon then audits soon); the audit after it reads no XML for it unless an
    event came after the sweep read it."""
    host = Host(libvirtd, refresh_audits=3)
    try:
        name = "no-event-" + change.replace(" ", "-").replace("_", "-").lower()
        dom = host.define(name, vcpus=2)
        host.rw.defineXML(
            dom.XMLDesc(0).replace(
                "<vcpu placement='static'>2</vcpu>",
                "<vcpu placement='static' current='1'>2</vcpu>",
            )
        )
        host.define("other-1")
        host.define("other-2")
        assert host.audit()[name].vcpus == 1
        make, seen = NO_EVENT_CHANGES[change]
        make(host, dom)
        host.conn.take_reads()

        sweeps = [host.lister.sweep(host.conn) for _ in range(3)]
        swept_reads = host.conn.take_reads()
        found = host.audit()[name]

        assert seen(found), found
        assert [s.changed for s in sweeps if s.changed] == [(name,)]
        assert swept_reads[name] == 1  # in its turn
        assert host.conn.take_reads() in ({}, {name: 1})
    finally:
        host.close()
