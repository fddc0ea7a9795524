"""Local storage in a real LVM volume group, on a loop device the tests make and remove."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from resource_tracker import conf as rt_conf
from resource_tracker.audit.tracker import ResourceTracker
from resource_tracker.cmd import open_database
from resource_tracker.cmd.daemon import host_policy, libvirt_driver
from resource_tracker.exception import StorageUnavailable
from resource_tracker.virt import lvm
from resource_tracker.virt.lvm import LvmStorage
from tests.support import devices, images, nobody

GiB = 2**30


@pytest.fixture
def volume_group(tmp_path):
    with devices.loop_device(tmp_path, "3G") as device, devices.volume_group(device) as group:
        yield group


def vg_bytes(group: str) -> tuple[int, int]:
    """Size and free space as LVM counts them: extents times the extent size."""
    extent, extents, free_extents = devices.vgs(
        group, "vg_extent_size", "vg_extent_count", "vg_free_count"
    )
    return extent * extents, extent * free_extents


def test_size_and_free_space_of_the_volume_group(volume_group):
    devices.create_volume(volume_group, "instance-1", "1G")
    size, free = vg_bytes(volume_group)

    storage = LvmStorage(volume_group).measure()

    assert (storage.total_bytes, storage.free_bytes) == (size, free)
    assert storage.used_bytes == GiB  # the one logical volume
    assert 3 * GiB - 8 * 2**20 <= size < 3 * GiB  # LVM keeps room for its metadata


def test_missing_volume_group_is_a_clear_error():
    if os.geteuid() != 0:
        pytest.skip("vgs needs root to look a group up (the next test is the user's case)")
    with pytest.raises(StorageUnavailable) as raised:
        LvmStorage("rt-nowhere").measure()

    assert str(raised.value) == (
        "cannot measure volume group rt-nowhere: no such volume group "
        '(vgs: Volume group "rt-nowhere" not found)'
    )


MEASURE_AS_USER = """
from resource_tracker.exception import StorageUnavailable
from resource_tracker.virt.lvm import LvmStorage
try:
    LvmStorage("rt-nowhere").measure()
except StorageUnavailable as error:
    print(error)
"""


def test_vgs_run_as_a_user_says_lvm_needs_root():
    """Found by vgs in /usr/sbin, which a user's PATH may not name; it cannot take LVM's lock."""
    command = [sys.executable, "-c", MEASURE_AS_USER]
    if os.geteuid() == 0:
        command = nobody.command(command)
    result = subprocess.run(
        command, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}, check=True
    )

    assert result.stdout.startswith(
        "cannot measure volume group rt-nowhere: LVM needs root here (vgs: "
    ), result.stdout
    assert "Permission denied)" in result.stdout


NO_DEVICE_MAPPER = (  # what LVM 2.03.31 (Debian 13) writes first where it cannot reach it
    "  /dev/mapper/control: open failed: No such device\n"
    "  Failure to communicate with kernel device-mapper driver.\n"
    "  Check that device-mapper is available in the kernel.\n"
    "  Incompatible libdevmapper 1.02.205 (2025-02-27) and kernel driver (unknown version).\n"
)


@pytest.mark.parametrize(
    ("stderr", "reason"),
    [
        (
            f'{NO_DEVICE_MAPPER}  Volume group "vg" not found\n  Cannot process volume group vg\n',
            'no such volume group (vgs: Volume group "vg" not found)',
        ),
        (
            NO_DEVICE_MAPPER,
            "LVM cannot reach the kernel's device-mapper "
            "(vgs: /dev/mapper/control: open failed: No such device)",
        ),
        (
            f"  WARNING: PV /dev/vdb has no label.\n{NO_DEVICE_MAPPER}"
            "  Reading VG vg from disk because lvmetad metadata is invalid.\n",
            "vgs: Reading VG vg from disk because lvmetad metadata is invalid.",
        ),
    ],
    ids=["no-such-group", "no-device-mapper", "other-error"],
)
def test_a_failing_vgs_is_told_by_its_line_that_matters(tmp_path, monkeypatch, stderr, reason):
    """A kernel without device-mapper cannot be had on every machine: a vgs that answers as
    LVM 2.03.31 does there stands in for it."""
    (tmp_path / "stderr").write_text(stderr)
    vgs = tmp_path / "vgs"
    vgs.write_text(f"#!/bin/sh\ncat {tmp_path / 'stderr'} >&2\nexit 5\n")
    vgs.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")

    with pytest.raises(StorageUnavailable) as raised:
        LvmStorage("vg").measure()

    assert str(raised.value) == f"cannot measure volume group vg: {reason}"


def test_host_without_lvm_tools(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(lvm, "SBIN", str(tmp_path))  # lvm2 cannot be uninstalled for a test

    with pytest.raises(StorageUnavailable, match=r"vgs not found \(install lvm2\)"):
        LvmStorage("vg").measure()


def test_vgs_that_hangs_does_not_hold_the_audit(tmp_path, monkeypatch):
    """A stuck device cannot be made here: a vgs that never answers stands in for it."""
    stuck = tmp_path / "vgs"
    stuck.write_text("#!/bin/sh\nexec sleep 30\n")
    stuck.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")

    with pytest.raises(StorageUnavailable, match=r"vgs gave no answer in 0.5 s"):
        LvmStorage("vg", timeout_s=0.5).measure()


def test_audit_with_lvm_writes_the_volume_group_numbers(tmp_path, mixed_host, volume_group):
    devices.create_volume(volume_group, "instance-1", "1G")
    config = tmp_path / "resource-tracker.conf"
    config.write_text(
        f"[DEFAULT]\nhost = compute-1\ninstances_path = {mixed_host.instances}\n"
        f"[libvirt]\nconnection_uri = {mixed_host.uri}\n"
        f"images_type = lvm\nimages_volume_group = {volume_group}\n"
        f"[database]\nconnection = sqlite:///{tmp_path}/rt.sqlite\n"
    )
    conf = rt_conf.make_config()
    rt_conf.load(conf, ["--config-file", str(config)])
    driver = libvirt_driver(conf)
    with open_database(conf) as database:
        database.sync_schema()
        size, free = vg_bytes(volume_group)
        overcommit = sum(map(images.expected_overcommit, mixed_host.disk_paths))

        ResourceTracker("compute-1", driver, database).audit(host_policy(conf))
        driver.close()

        (node,) = database.compute_nodes("compute-1")
    assert (node.local_gb, node.local_gb_used) == (size // GiB, 1)
    assert node.disk_available_least == (free - overcommit) // GiB


def test_daemon_refuses_lvm_without_a_volume_group_at_start(tmp_path):
    config = tmp_path / "resource-tracker.conf"
    config.write_text("[libvirt]\nimages_type = lvm\n")
    daemon = os.path.join(os.path.dirname(sys.executable), "resource-tracker")

    result = subprocess.run(
        [daemon, "--config-file", str(config), "--once"], capture_output=True, text=True
    )

    assert result.returncode == 2
    assert result.stderr == (
        "resource-tracker: [libvirt] images_volume_group: required with images_type = lvm "
        "(the volume group that holds the instance disks)\n"
    )
