"""Domain XML as libvirt writes it, read into what the audit needs."""

from __future__ import annotations

import pytest

from resource_tracker.resources import DomainDisk
from resource_tracker.virt.libvirt.domains import parse_domain

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
        DomainDisk("web", "vdc", "network", "disk", None, "raw"),
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
