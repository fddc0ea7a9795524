"""DomainLister with domain events on a real libvirtd with QEMU: each kind of change seen at
the next audit by fetching that domain's XML only; an idle host fetches none; a change QEMU
does not signal is seen by the round robin."""

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


def test_a_change_qemu_does_not_signal_is_seen_within_refresh_audits(libvirtd):
    """A disk added to a shut-off domain's definition with AFFECT_CONFIG: no event at all
    (libvirt 9.0; on libvirt 11 one run in three read it a third time, likely after an event);
    the round robin reads every domain again within 3 audits."""
    host = Host(libvirtd, refresh_audits=3)
    try:
        dom = host.define("config-only")
        host.define("other-1")
        host.define("other-2")
        host.audit()
        dom.attachDeviceFlags(host.scsi_disk("config-only"), libvirt.VIR_DOMAIN_AFFECT_CONFIG)

        found = [host.audit()["config-only"] for _ in range(3)]

        assert len(found[-1].disks) == 2
        # at the first audit, then in its turn (and after an event, where libvirt sends one)
        assert host.conn.reads["config-only"] in (2, 3)
    finally:
        host.close()
