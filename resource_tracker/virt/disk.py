"""Local storage, and what each instance disk takes of it and may still grow into.

The rules, in bytes:
- local storage is statvfs(instances_path): total = f_frsize * f_blocks,
  free = f_frsize * f_bavail, used = f_frsize * (f_blocks - f_bfree);
- a disk's allocation is st_blocks * 512, never its apparent length (sparse files);
- over-commit is max(0, virtual - allocated), where the virtual size of a qcow2 disk comes
  from its header and that of a raw disk is its apparent length;
- the format is libvirt's <driver type>, never guessed from the file's content: a guest may
  write a qcow2 header into its raw disk;
- only regular files count, each once however many domains attach it; a block device, a
  network disk or a disk without a source cannot grow into local storage.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterable

from resource_tracker.exception import ImageError, StorageUnavailable
from resource_tracker.resources import DiskUsage, DomainDisk, ImageInfo, LocalStorage
from resource_tracker.virt import qcow2

LOG = logging.getLogger(__name__)

SECTOR_BYTES = 512  # st_blocks counts 512-byte units whatever the file system's block size
HEADER_PREFETCH_BYTES = 4096  # holds the header, extensions and backing name of real images


class FileStorage:
    """Instance disks are files under one directory; its file system is the local storage."""

    def __init__(self, path: str):
        self.path = path

    def measure(self) -> LocalStorage:
        try:
            fs = os.statvfs(self.path)
        except OSError as error:
            raise StorageUnavailable(
                f"cannot measure instances_path {self.path}: {error.strerror}"
            ) from error
        return LocalStorage(
            total_bytes=fs.f_frsize * fs.f_blocks,
            free_bytes=fs.f_frsize * fs.f_bavail,
            used_bytes=fs.f_frsize * (fs.f_blocks - fs.f_bfree),
        )


def measure_disks(disks: Iterable[DomainDisk]) -> tuple[DiskUsage, ...]:
    """The usage of every file disk in `disks`; a disk that cannot be read is skipped."""
    usages = []
    seen: set[tuple[int, int]] = set()
    for disk in disks:
        if disk.source_type != "file" or not disk.path:
            continue
        try:
            st = os.stat(disk.path)
        except OSError as error:
            LOG.warning(
                "skipping disk %s of domain %s: %s: %s",
                disk.target,
                disk.domain,
                disk.path,
                error.strerror,
            )
            continue
        identity = (st.st_dev, st.st_ino)
        if not stat.S_ISREG(st.st_mode) or identity in seen:
            continue
        seen.add(identity)
        usages.append(file_disk_usage(disk, st))
    return tuple(usages)


def file_disk_usage(disk: DomainDisk, st: os.stat_result) -> DiskUsage:
    """Usage of a regular file disk whose stat is `st`."""
    image_format = disk.format or "raw"  # what QEMU assumes when libvirt names no format
    allocated = st.st_blocks * SECTOR_BYTES
    virtual: int | None
    if image_format == "raw":
        virtual = st.st_size
    elif image_format == "qcow2":
        virtual = _qcow2_virtual_size(disk)
    else:
        LOG.warning(
            "disk %s: format %s is not measured; over-commit counted as 0", disk.path, image_format
        )
        virtual = None
    return DiskUsage(
        domain=disk.domain,
        target=disk.target,
        path=disk.path,
        format=image_format,
        virtual_bytes=virtual,
        allocated_bytes=allocated,
        overcommit_bytes=max(0, virtual - allocated) if virtual is not None else 0,
    )


def _qcow2_virtual_size(disk: DomainDisk) -> int | None:
    try:
        return read_qcow2(disk.path).virtual_size
    except ImageError as error:
        LOG.warning(
            "disk %s: qcow2 header refused (%s); over-commit counted as 0", disk.path, error
        )
    except OSError as error:
        LOG.warning(
            "disk %s: cannot read its header: %s; over-commit counted as 0",
            disk.path,
            error.strerror,
        )
    return None


def read_qcow2(path: str) -> ImageInfo:
    """Read and decode a qcow2 header, fetching past the first block only when it asks to."""
    # O_NONBLOCK: a FIFO swapped in for the file since it was stat'ed must not block the audit
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        head = os.pread(fd, HEADER_PREFETCH_BYTES, 0)

        def read(offset: int, size: int) -> bytes:
            if offset + size <= len(head):
                return head[offset : offset + size]
            return os.pread(fd, size, offset)

        return qcow2.inspect(read)
    finally:
        os.close(fd)
