"""Domain XML as libvirt writes it, read into what the audit needs."""

from __future__ import annotations

import logging
import time
import uuid

import libvirt
import pytest

from resource_tracker.resources import DomainDisk
from resource_tracker.virt.driver import Activity
from resource_tracker.virt.libvirt import domains as domains_module
from resource_tracker.virt.libvirt.domains import DomainLister, parse_domain

RUNNING = """
<domain type='kvm' id='7'>
  <name>web</name>
  <memory unit='KiB'>4194304</memory>
  <currentMemory unit='KiB'>2097152</currentMemory>
  <vcpu placement='static' current='3'>8</vcpu>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/var/lib/nova/instances/web/disk'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='block' device='disk'>
      <driver name='qemu' type='raw'/>
      <source dev='/dev/vg/web-data'/>
      <target dev='vdb' bus='virtio'/>
    </disk>
    <disk type='network' device='disk'>
      <driver name='qemu' type='raw'/>
      <source protocol='rbd' name='pool/web'/>
      <target dev='vdc' bus='virtio'/>
    </disk>
    <disk type='file' device='cdrom'>
      <driver name='qemu'/>
      <target dev='hda' bus='ide'/>
    </disk>
  </devices>
</domain>
"""


def test_running_domain():
    domain = parse_domain(RUNNING)

    assert domain.name == "web"
    assert domain.active
    assert domain.vcpus == 3  # the vCPUs online now, not the maximum
    assert domain.memory_bytes == 4194304 * 1024  # what the guest may use, not its balloon
    assert domain.disks == (
        DomainDisk("web", "vda", "file", "disk", "/var/lib/nova/instances/web/disk", "qcow2"),
        DomainDisk("web", "vdb", "block", "disk", "/dev/vg/web-data", "raw"),
        DomainDisk("web", "vdc", "network", "disk", "pool/web", "raw", "rbd"),
        DomainDisk("web", "hda", "file", "cdrom", None, None),
    )


def test_shut_off_domain_has_no_id():
    xml = RUNNING.replace(" id='7'", "")

    assert not parse_domain(xml).active


@pytest.mark.parametrize(
    ("unit", "factor"),
    [("KiB", 2**10), ("MiB", 2**20), ("GiB", 2**30), ("MB", 10**6), ("b", 1)],
)
def test_memory_units(unit, factor):
    xml = RUNNING.replace("<memory unit='KiB'>4194304", f"<memory unit='{unit}'>3")

    assert parse_domain(xml).memory_bytes == 3 * factor


def test_vcpu_without_current_is_all_of_them():
    xml = RUNNING.replace(" current='3'", "")

    assert parse_domain(xml).vcpus == 8


DEFINED = """
<domain type='test'>
  <name>{name}</name>
  <uuid>{uuid}</uuid>
  <memory unit='MiB'>{memory_mib}</memory>
  <vcpu>1</vcpu>
  <os><type>hvm</type></os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/><source file='/i/{name}.qcow2'/><target dev='vda'/>
    </disk>
  </devices>
</domain>
"""


def defined(name: str, memory_mib: int = 256) -> str:
    return DEFINED.format(
        name=name, memory_mib=memory_mib, uuid=uuid.uuid5(uuid.NAMESPACE_DNS, name)
    )


@pytest.fixture
def default_host():
    """libvirt's test:///default, shared by the connections of this process while one is open.

    It comes with one running domain, 'test'; the tests define more, shut off.
    """
    conn = libvirt.open("test:///default")
    yield conn
    conn.close()  # the last connection closed: the host is reset


def test_lister_sees_running_and_shut_off_domains(default_host):
    default_host.defineXML(defined("off"))

    domains = {domain.name: domain for domain in DomainLister(use_events=False).list(default_host)}

    assert set(domains) == {"test", "off"}
    assert domains["test"].active and not domains["off"].active
    assert domains["off"].disks[0].path == "/i/off.qcow2"


def test_unchanged_xml_is_not_parsed_again(default_host):
    default_host.defineXML(defined("off"))
    lister = DomainLister(use_events=False)

    first = {domain.name: domain for domain in lister.list(default_host)}
    default_host.defineXML(defined("off", 512))
    second = {domain.name: domain for domain in lister.list(default_host)}

    assert second["test"] is first["test"]  # the same object: the XML was not parsed again
    assert second["off"] is not first["off"]
    assert second["off"].memory_bytes == 512 * 2**20


class UndefinesAfterListing:
    """A connection on which one domain is undefined right after the listing, for real."""

    def __init__(self, conn, victim: str):
        self._conn, self._victim = conn, victim

    def getAllDomainStats(self, stats):
        listed = self._conn.getAllDomainStats(stats)
        self._conn.lookupByName(self._victim).undefine()
        return listed

    def __getattr__(self, name):
        return getattr(self._conn, name)


def test_domain_undefined_mid_audit_is_skipped_with_one_log_line(default_host, caplog):
    default_host.defineXML(defined("doomed"))
    default_host.defineXML(defined("kept"))

    with caplog.at_level(logging.INFO):
        domains = DomainLister(use_events=False).list(
            UndefinesAfterListing(default_host, "doomed")
        )

    assert sorted(domain.name for domain in domains) == ["kept", "test"]
    (record,) = caplog.records
    assert "doomed" in record.getMessage() and "undefined" in record.getMessage()


class SlowToDescribe:
    """A connection on which one domain takes `delay_s` to answer XMLDesc: an injected fault
    (our calls take no job lock, so a real domain does not make them wait)."""

    def __init__(self, conn, victim: str, delay_s: float):
        self._conn, self._victim, self._delay_s = conn, victim, delay_s

    def getAllDomainStats(self, stats):
        return [
            (_Slow(dom, self._delay_s) if dom.name() == self._victim else dom, dom_stats)
            for dom, dom_stats in self._conn.getAllDomainStats(stats)
        ]

    def __getattr__(self, name):
        return getattr(self._conn, name)


class _Slow:
    def __init__(self, dom, delay_s: float):
        self._dom, self._delay_s = dom, delay_s

    def XMLDesc(self, flags):
        time.sleep(self._delay_s)
        return self._dom.XMLDesc(flags)

    def __getattr__(self, name):
        return getattr(self._dom, name)


def test_slow_domain_is_named_and_still_counted(default_host, caplog, monkeypatch):
    monkeypatch.setattr(domains_module, "SLOW_CALL_S", 0.05)
    default_host.defineXML(defined("sluggish"))
    activity = Activity()

    with caplog.at_level(logging.WARNING):
        domains = DomainLister(use_events=False).list(
            SlowToDescribe(default_host, "sluggish", 0.2), activity
        )

    assert sorted(domain.name for domain in domains) == ["sluggish", "test"]
    (record,) = caplog.records
    assert "domain sluggish was slow: XMLDesc took 0.2 s" in record.getMessage()
    assert activity.describe().startswith("libvirt XMLDesc of domain")


WITH_HOSTDEVS = """
<domain type='kvm' id='9'>
  <name>gpu-vm</name>
  <uuid>A0000000-0000-4000-8000-00000000000A</uuid>
  <memory unit='KiB'>1048576</memory>
  <vcpu>2</vcpu>
  <devices>
    <hostdev mode='subsystem' type='pci' managed='yes'>
      <driver name='vfio'/>
      <source><address domain='0x0000' bus='0x3b' slot='0x00' function='0x0'/></source>
      <alias name='hostdev0'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x05' function='0x0'/>
    </hostdev>
    <interface type='hostdev' managed='yes'>
      <mac address='fa:16:3e:11:22:33'/>
      <source><address type='pci' domain='0x0000' bus='0x81' slot='0x10' function='0x2'/></source>
      <vlan><tag id='100'/></vlan>
    </interface>
    <hostdev mode='subsystem' type='mdev' managed='no' model='vfio-pci' display='off'>
      <source><address uuid='4B20D080-1B54-4048-85B3-A6A62D165C01'/></source>
    </hostdev>
    <hostdev mode='subsystem' type='usb' managed='yes'>
      <source><vendor id='0x1234'/><product id='0xbeef'/></source>
    </hostdev>
    <hostdev mode='subsystem' type='pci' managed='yes'>
      <source><address domain='0x0000' bus='0x300' slot='0x00' function='0x0'/></source>
    </hostdev>
    <interface type='bridge'><source bridge='br0'/></interface>
  </devices>
</domain>
"""


def test_host_devices_a_domain_is_given():
    domain = parse_domain(WITH_HOSTDEVS)

    assert domain.uuid == "a0000000-0000-4000-8000-00000000000a"
    # the USB device is no PCI function; the address with bus 0x300 cannot be one
    assert domain.pci_hostdevs == ("0000:3b:00.0", "0000:81:10.2")
    assert domain.mdev_hostdevs == ("4b20d080-1b54-4048-85b3-a6a62d165c01",)
    assert parse_domain(RUNNING).pci_hostdevs == ()
