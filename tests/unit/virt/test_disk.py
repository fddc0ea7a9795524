"""Per-disk allocation and over-commit of real images, against qemu-img and os.stat."""

from __future__ import annotations

import logging
import os
import subprocess

import pytest

from resource_tracker.exception import StorageUnavailable
from resource_tracker.resources import DomainDisk
from resource_tracker.virt import disk
from tests.support import images
from tests.support.still import measured_while_still

KINDS = [
    "qcow2-v2",
    "qcow2-v3",
    "backing-file",
    "backing-chain",
    "2m-clusters",
    "extended-l2",
    "prealloc-metadata",
    "prealloc-full",
    "luks",
    "data-file",
    "raw-sparse",
    "raw-fallocated",
    "raw-with-qcow2-header",
]


def file_disk(path, image_format="qcow2", domain="vm", target="vda") -> DomainDisk:
    return DomainDisk(
        domain=domain,
        target=target,
        source_type="file",
        device="disk",
        path=os.fspath(path),
        format=image_format,
    )


def measure(*disks):
    return disk.DiskMeter().measure(disks)


@pytest.fixture(scope="module")
def kinds(tmp_path_factory):
    return images.every_kind(tmp_path_factory.mktemp("kinds"))


def test_every_kind_is_listed_here(kinds):
    assert sorted(kinds) == sorted(KINDS)


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_of_disk_is_measured_as_qemu_img_says(kinds, kind):
    image = kinds[kind]
    qemu = images.info(image.path, image.format)

    (usage,) = measure(file_disk(image.path, image.format))

    assert usage.format == image.format
    assert usage.virtual_bytes == qemu["virtual-size"]
    assert usage.allocated_bytes == images.expected_allocated(image.path, image.format)
    assert usage.overcommit_bytes == max(0, qemu["virtual-size"] - usage.allocated_bytes)
    assert usage.overcommit_bytes == images.expected_overcommit(image.path, image.format)
    assert usage.problem is None
    if kind != "data-file":
        assert usage.allocated_bytes == qemu["actual-size"]


def test_allocation_is_blocks_not_apparent_length(kinds):
    """preallocation=metadata makes a file longer than the disk, with few blocks in it."""
    image = kinds["prealloc-metadata"]

    (usage,) = measure(file_disk(image.path))

    assert os.stat(image.path).st_size > usage.virtual_bytes > usage.allocated_bytes
    assert usage.overcommit_bytes == usage.virtual_bytes - images.allocated(image.path)


def test_fully_preallocated_and_fallocated_disks_have_no_overcommit(kinds):
    usages = measure(
        file_disk(kinds["prealloc-full"].path), file_disk(kinds["raw-fallocated"].path, "raw")
    )

    assert [usage.overcommit_bytes for usage in usages] == [0, 0]


def test_external_data_file_allocation_is_counted(kinds):
    image = kinds["data-file"]
    data_file = images.data_file(image.path)

    (usage,) = measure(file_disk(image.path))

    assert usage.data_file == data_file
    assert images.allocated(data_file) >= 3 * 2**20  # the guest's writes went there
    assert usage.allocated_bytes == images.allocated(image.path) + images.allocated(data_file)


def test_relative_data_file_is_next_to_its_image(tmp_path):
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", "-o", "data_file=rel.raw", "d.qcow2", "1G"],
        cwd=tmp_path,
        check=True,
    )
    subprocess.run(["qemu-io", "-c", "write 0 2M", "d.qcow2"], cwd=tmp_path, check=True)

    (usage,) = measure(file_disk(tmp_path / "d.qcow2"))

    assert usage.data_file == str(tmp_path / "rel.raw")
    expected = images.allocated(tmp_path / "d.qcow2") + images.allocated(tmp_path / "rel.raw")
    assert usage.allocated_bytes == expected


def test_missing_data_file_counts_zero_with_a_warning(tmp_path, caplog):
    path = images.create(tmp_path / "d.qcow2", "qcow2", "1G", "-o", f"data_file={tmp_path}/x")
    os.unlink(tmp_path / "x")

    with caplog.at_level(logging.WARNING):
        (usage,) = measure(file_disk(path))

    assert (usage.virtual_bytes, usage.overcommit_bytes) == (None, 0)
    assert usage.allocated_bytes == images.allocated(path)
    (record,) = caplog.records
    assert path in record.getMessage() and f"{tmp_path}/x" in record.getMessage()


def test_format_comes_from_libvirt_not_from_the_file(kinds):
    """A raw disk whose guest wrote a qcow2 header claiming 1 PiB into it stays raw."""
    image = kinds["raw-with-qcow2-header"]
    assert images.info(image.path)["virtual-size"] == 2**50  # what content sniffing would say

    (usage,) = measure(file_disk(image.path, "raw"))

    assert usage.format == "raw"
    assert usage.virtual_bytes == os.stat(image.path).st_size < 2**30


def test_missing_format_is_raw(tmp_path):
    path = images.create(tmp_path / "disk.img", "raw", "1G")

    (usage,) = measure(file_disk(path, None))

    assert usage.format == "raw"
    assert usage.overcommit_bytes == 2**30 - images.allocated(path)


def test_unmeasured_format_counts_zero_with_a_warning(tmp_path, caplog):
    path = images.create(tmp_path / "disk.vmdk", "vmdk", "1G")

    with caplog.at_level(logging.WARNING):
        (usage,) = measure(file_disk(path, "vmdk"))

    assert (usage.format, usage.virtual_bytes, usage.overcommit_bytes) == ("vmdk", None, 0)
    assert usage.allocated_bytes == images.allocated(path)
    assert "disk.vmdk" in caplog.text and "not measured" in caplog.text


def test_disks_outside_local_files_are_not_counted(tmp_path):
    disks = [
        DomainDisk("vm", "vda", "block", "disk", "/dev/null", "raw"),
        DomainDisk("vm", "vdb", "network", "disk", None, "raw"),
        DomainDisk("vm", "hdc", "file", "cdrom", None, None),
        DomainDisk("vm", "vdd", "volume", "disk", None, "qcow2"),
        file_disk("/dev/null", "raw", target="vdc"),  # a device where a file was declared
    ]

    assert measure(*disks) == ()


def test_a_file_attached_twice_counts_once(tmp_path):
    path = images.create(tmp_path / "shared.raw", "raw", "1G")

    usages = measure(file_disk(path, "raw", "a"), file_disk(path, "raw", "b"))

    assert len(usages) == 1


def test_file_storage_is_statvfs_of_the_instances_path(tmp_path):
    storage, fs = measured_while_still(tmp_path, disk.FileStorage(str(tmp_path)).measure)

    assert storage.total_bytes == fs.f_frsize * fs.f_blocks
    assert storage.free_bytes == fs.f_frsize * fs.f_bavail
    assert storage.used_bytes == fs.f_frsize * (fs.f_blocks - fs.f_bfree)


def test_missing_instances_path_is_a_clear_error(tmp_path):
    with pytest.raises(StorageUnavailable, match=r"instances_path .*nowhere"):
        disk.FileStorage(str(tmp_path / "nowhere")).measure()


def test_instances_path_that_became_a_regular_file_fails_the_audit(tmp_path):
    """statvfs would measure the file system the file is on: the audit fails instead."""
    (tmp_path / "instances").write_text("")

    with pytest.raises(StorageUnavailable, match=r"instances_path .*instances: Not a directory"):
        disk.FileStorage(str(tmp_path / "instances")).measure()
