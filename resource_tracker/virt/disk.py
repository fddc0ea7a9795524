"""Local storage on a file system, and what each instance disk takes of it and may still grow into.

The rules, in bytes:
- local storage is statvfs(instances_path): total = f_frsize * f_blocks,
  free = f_frsize * f_bavail, used = f_frsize * (f_blocks - f_bfree);
- a disk's allocation is st_blocks * 512, never its apparent length (sparse files), plus
  that of its external data file if a qcow2 header names one;
- over-commit is max(0, virtual - allocated), where the virtual size of a qcow2 disk comes
  from its header and that of a raw disk is its apparent length;
- the format is libvirt's <driver type>, never guessed from the file's content: a guest may
  write a qcow2 header into its raw disk;
- only regular files count, each once however many domains attach it; a block device, a
  network disk or a disk without a source cannot grow into local storage.

The daemon measures the same disks every minute for months, so a DiskMeter remembers, for
the files of its last audit only, what their qcow2 headers said and which problems it logged.
An audit costs one stat per file disk; a header is read again only when the file's stat
signature changed; a problem (vanished file, refused header) is a warning when it appears or
changes, and a debug line in the audits after.
"""

from __future__ import annotations

import logging
import os
import stat
import time
from collections.abc import Iterable
from typing import Protocol

from resource_tracker.exception import ImageError, StorageUnavailable
from resource_tracker.resources import DiskUsage, DomainDisk, ImageInfo, LocalStorage
from resource_tracker.virt import qcow2, shared

LOG = logging.getLogger(__name__)

SECTOR_BYTES = 512  # st_blocks counts 512-byte units whatever the file system's block size
HEADER_PREFETCH_BYTES = 4096  # holds the header, extensions and backing name of real images
# A header read within this long of the file's last change may predate a second change that
# keeps size and time stamps (they tick coarsely): such a read is not cached (cf. "racy git").
RACY_CHANGE_NS = 2 * 10**9

Signature = tuple[int, int, int, int, int]


class Storage(Protocol):
    def measure(self) -> LocalStorage:
        """The storage's size, free space and identity now; StorageUnavailable if unknown."""

    def measure_images(self, disks: Iterable[DomainDisk]) -> tuple[DiskUsage, ...]:
        """The usage of the instance disks it holds that are not files (RBD images)."""

    def close(self) -> None:
        """Release connections; measure() may be called again afterwards."""


class FileStorage:
    """Instance disks are files under one directory; its file system is the storage, which
    other hosts may share (virt/shared.py tells)."""

    def __init__(self, path: str, identifier: shared.StorageIdentifier | None = None):
        self.path = path
        self.identifier = identifier or shared.StorageIdentifier(path)
        self._problem: str | None = None

    def measure(self) -> LocalStorage:
        try:
            fs = os.statvfs(self.path)
            identity = self.identifier.identify()
        except OSError as error:
            raise StorageUnavailable(
                f"cannot measure instances_path {self.path}: {error.strerror}"
            ) from error
        if identity.problem != self._problem and identity.problem:
            LOG.warning("%s", identity.problem)
        self._problem = identity.problem
        return LocalStorage(
            total_bytes=fs.f_frsize * fs.f_blocks,
            free_bytes=fs.f_frsize * fs.f_bavail,
            used_bytes=fs.f_frsize * (fs.f_blocks - fs.f_bfree),
            shared_id=identity.shared_id,
        )

    def measure_images(self, disks: Iterable[DomainDisk]) -> tuple[DiskUsage, ...]:
        return ()  # its disks are files: the DiskMeter measures them

    def close(self) -> None:
        pass


class DiskMeter:
    """Measures the file disks of every audit, reading only what changed since the last."""

    def __init__(self, racy_window_ns: int = RACY_CHANGE_NS):
        self._racy_window_ns = racy_window_ns
        self._headers: dict[str, tuple[Signature, ImageInfo | str]] = {}
        self._problems = ProblemLog(LOG)

    def measure(self, disks: Iterable[DomainDisk]) -> tuple[DiskUsage, ...]:
        """The usage of every file disk in `disks`; a disk that cannot be read is skipped."""
        audit = _Audit(self._headers, self._problems, time.time_ns() - self._racy_window_ns)
        usages = tuple(filter(None, map(audit.measure, disks)))
        self._headers = audit.headers
        self._problems.end_audit()
        return usages


class _Audit:
    """One pass over the disks: what it read, so the next audit can reuse it."""

    def __init__(self, previous: dict, problems: ProblemLog, settled_ns: int):
        self.headers: dict[str, tuple[Signature, ImageInfo | str]] = {}
        self._previous = previous
        self._problems = problems
        self._settled_ns = settled_ns
        self._seen: set[tuple[int, int]] = set()

    def measure(self, disk: DomainDisk) -> DiskUsage | None:
        if disk.source_type != "file" or not disk.path:
            return None
        try:
            st = os.stat(disk.path)
        except OSError as error:
            self._problems.report(
                disk.path,
                "skipping disk %s of domain %s: %s: %s",
                disk.target,
                disk.domain,
                disk.path,
                error.strerror,
            )
            return None
        if not self._first_sight(st):
            return None
        image_format = disk.format or "raw"  # what QEMU assumes when libvirt names no format
        allocated = st.st_blocks * SECTOR_BYTES
        if image_format == "raw":
            return _usage(disk, image_format, st.st_size, allocated)
        if image_format != "qcow2":
            return self._unmeasured(disk, image_format, allocated, "format not measured")
        info = self._header(disk.path, st)
        if isinstance(info, str):
            return self._unmeasured(disk, image_format, allocated, info)
        if info.data_file is None:
            return _usage(disk, image_format, info.virtual_size, allocated)
        data_file = os.path.join(os.path.dirname(disk.path), info.data_file)
        try:
            data_st = os.stat(data_file)
        except OSError as error:
            problem = f"data file {data_file}: {error.strerror}"
            return self._unmeasured(disk, image_format, allocated, problem)
        self._first_sight(data_st)  # counted here; not again if a domain attaches it too
        allocated += data_st.st_blocks * SECTOR_BYTES
        return _usage(disk, image_format, info.virtual_size, allocated, data_file)

    def _first_sight(self, st: os.stat_result) -> bool:
        """True for a regular file not yet counted in this audit."""
        identity = (st.st_dev, st.st_ino)
        if not stat.S_ISREG(st.st_mode) or identity in self._seen:
            return False
        self._seen.add(identity)
        return True

    def _header(self, path: str, st: os.stat_result) -> ImageInfo | str:
        """The image's header facts, or why they cannot be had."""
        signature = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        cached = self._previous.get(path)
        if cached is not None and cached[0] == signature:
            self.headers[path] = cached
            return cached[1]
        try:
            result: ImageInfo | str = read_qcow2(path)
        except ImageError as error:
            result = f"qcow2 header refused: {error}"
        except OSError as error:
            return f"cannot read its header: {error.strerror}"  # may pass: not remembered
        if st.st_ctime_ns < self._settled_ns:
            self.headers[path] = (signature, result)
        return result

    def _unmeasured(self, disk: DomainDisk, image_format: str, allocated: int, problem: str):
        self._problems.report(
            disk.path,
            "disk %s: %s; over-commit counted as 0 (format %s)",
            disk.path,
            problem,
            image_format,
        )
        return _usage(disk, image_format, None, allocated, problem=problem)


def _usage(disk, image_format, virtual, allocated, data_file=None, problem=None) -> DiskUsage:
    return DiskUsage(
        domain=disk.domain,
        target=disk.target,
        path=disk.path,
        format=image_format,
        virtual_bytes=virtual,
        allocated_bytes=allocated,
        overcommit_bytes=max(0, virtual - allocated) if virtual is not None else 0,
        data_file=data_file,
        problem=problem,
    )


class ProblemLog:
    """Warns of a file's problem when it first appears or changes, not at every audit.

    A problem still there at the next audit is logged at debug level only; one that went
    away and came back is a warning again. Only the last audit's problems are remembered.
    """

    def __init__(self, logger: logging.Logger):
        self._logger = logger
        self._last: set[tuple[str, str]] = set()
        self._current: set[tuple[str, str]] = set()

    def report(self, path: str, message: str, *args) -> None:
        key = (path, message % args)
        level = logging.DEBUG if key in self._last else logging.WARNING
        self._current.add(key)
        self._logger.log(level, key[1])

    def end_audit(self) -> None:
        self._last, self._current = self._current, set()


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
