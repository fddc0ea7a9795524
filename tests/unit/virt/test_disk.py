"""Per-disk allocation and over-commit on real images; local storage from statvfs."""

from __future__ import annotations

import logging
import os
import shutil

import pytest

from resource_tracker.exception import StorageUnavailable
from resource_tracker.resources import DomainDisk
from resource_tracker.virt import disk
from tests.support import images


def file_disk(path, image_format="qcow2", domain="vm", target="vda") -> DomainDisk:
    return DomainDisk(
        domain=domain,
        target=target,
        source_type="file",
        device="disk",
        path=os.fspath(path),
        format=image_format,
    )


def test_qcow2_overcommit_is_virtual_size_minus_allocated_blocks(tmp_path):
    path = images.create(tmp_path / "disk.qcow2", "qcow2", "10G")
    images.write(path, "0", "8M")

    (usage,) = disk.measure_disks([file_disk(path)])

    assert usage.virtual_bytes == images.info(path)["virtual-size"]
    assert usage.allocated_bytes == images.info(path)["actual-size"] == images.allocated(path)
    assert usage.overcommit_bytes == images.expected_overcommit(path)
    assert usage.allocated_bytes > 8 * 2**20  # the written data is counted as allocated


def test_sparse_raw_overcommit_is_apparent_minus_allocated(tmp_path):
    path = images.create(tmp_path / "disk.raw", "raw", "3G")
    with open(path, "r+b") as raw:
        raw.write(b"x" * 65536)

    (usage,) = disk.measure_disks([file_disk(path, "raw")])

    assert usage.virtual_bytes == 3 * 2**30
    assert usage.allocated_bytes == images.allocated(path) >= 65536
    assert usage.overcommit_bytes == 3 * 2**30 - images.allocated(path)


def test_fallocated_raw_has_no_overcommit(tmp_path):
    path = tmp_path / "disk.raw"
    with open(path, "wb") as raw:
        os.posix_fallocate(raw.fileno(), 0, 64 * 2**20)

    (usage,) = disk.measure_disks([file_disk(path, "raw")])

    assert usage.allocated_bytes >= usage.virtual_bytes == 64 * 2**20
    assert usage.overcommit_bytes == 0


def test_format_comes_from_libvirt_not_from_the_file(tmp_path):
    """A raw disk whose guest wrote a qcow2 header into it stays raw."""
    header = images.create(tmp_path / "claims-1P.qcow2", "qcow2", "1P")
    path = tmp_path / "guest.raw"
    shutil.copyfile(header, path)

    (usage,) = disk.measure_disks([file_disk(path, "raw")])

    assert usage.format == "raw"
    assert usage.virtual_bytes == os.stat(path).st_size
    assert usage.overcommit_bytes == max(0, os.stat(path).st_size - images.allocated(path))


def test_missing_format_is_raw(tmp_path):
    path = images.create(tmp_path / "disk.img", "raw", "1G")

    (usage,) = disk.measure_disks([file_disk(path, None)])

    assert usage.format == "raw"
    assert usage.overcommit_bytes == 2**30 - images.allocated(path)


def test_vanished_disk_is_skipped_with_one_log_line(tmp_path, caplog):
    kept = images.create(tmp_path / "kept.qcow2", "qcow2", "1G")
    gone = file_disk(tmp_path / "gone.qcow2", target="vdb")

    with caplog.at_level(logging.WARNING):
        usages = disk.measure_disks([gone, file_disk(kept)])

    assert [usage.path for usage in usages] == [kept]
    (record,) = caplog.records
    assert "gone.qcow2" in record.getMessage() and "vdb" in record.getMessage()


def test_disks_outside_local_files_are_not_counted(tmp_path):
    disks = [
        DomainDisk("vm", "vda", "block", "disk", "/dev/null", "raw"),
        DomainDisk("vm", "vdb", "network", "disk", None, "raw"),
        DomainDisk("vm", "hdc", "file", "cdrom", None, None),
        file_disk("/dev/null", "raw", target="vdc"),  # a device where a file was declared
    ]

    assert disk.measure_disks(disks) == ()


def test_a_file_attached_twice_counts_once(tmp_path):
    path = images.create(tmp_path / "shared.raw", "raw", "1G")

    usages = disk.measure_disks([file_disk(path, "raw", "a"), file_disk(path, "raw", "b")])

    assert len(usages) == 1


def test_malformed_qcow2_counts_zero_with_a_warning(tmp_path, caplog):
    path = tmp_path / "broken.qcow2"
    path.write_bytes(b"QFI\xfb" + b"\x00" * 20)

    with caplog.at_level(logging.WARNING):
        (usage,) = disk.measure_disks([file_disk(path)])

    assert usage.virtual_bytes is None and usage.overcommit_bytes == 0
    assert "broken.qcow2" in caplog.text and "truncated" in caplog.text


def test_file_storage_is_statvfs_of_the_instances_path(tmp_path):
    before = os.statvfs(tmp_path)
    storage = disk.FileStorage(str(tmp_path)).measure()
    after = os.statvfs(tmp_path)

    assert storage.total_bytes == before.f_frsize * before.f_blocks
    free = {fs.f_frsize * fs.f_bavail for fs in (before, after)}
    used = {fs.f_frsize * (fs.f_blocks - fs.f_bfree) for fs in (before, after)}
    assert storage.free_bytes in free  # the file system may change between the calls
    assert storage.used_bytes in used


def test_missing_instances_path_is_a_clear_error(tmp_path):
    with pytest.raises(StorageUnavailable, match=r"instances_path .*nowhere"):
        disk.FileStorage(str(tmp_path / "nowhere")).measure()
