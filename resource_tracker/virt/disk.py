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
the files of its last audit only, what their qcow2 headers said, what each disk counted and
which problems it logged. An audit costs one stat per file disk; a header is read again only
when the file's stat signature changed, from a descriptor checked to be the file that was
stat'ed; a disk whose stat and description are those it was measured from counts what it
counted then, without being measured again; a problem (vanished file, refused header) is a
warning when it appears or changes, and a debug line in the audits after.

Unknown is never optimistic: a disk that cannot be measured now (an error that may pass, or
an exception nobody foresaw) keeps its last known usage, or, never measured, counts the most
its header allows; only a disk that is gone is skipped, and only a header refused as hostile
or unreadable by permission counts 0. No exception from one disk leaves `measure()`.
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import os
import stat
import time
from collections.abc import Callable, Iterable
from typing import NamedTuple, Protocol

from resource_tracker.exception import ImageError, StorageUnavailable
from resource_tracker.resources import DiskUsage, DomainDisk, ImageInfo, LocalStorage
from resource_tracker.virt import qcow2, shared
from resource_tracker.virt.problems import ProblemLog

LOG = logging.getLogger(__name__)

SECTOR_BYTES = 512  # st_blocks counts 512-byte units whatever the file system's block size
HEADER_PREFETCH_BYTES = 4096  # holds the header, extensions and backing name of real images
# A header read within this long of the file's last change may predate a second change that
# keeps size and time stamps (they tick coarsely): such a read is not cached (cf. "racy git").
RACY_CHANGE_NS = 2 * 10**9

# How an error reading a disk counts. The path names no file (gone): the disk is skipped.
# EACCES and EPERM: skipped too (the daemon is not meant to see it). Any other error (EMFILE,
# ENFILE, ENOMEM, EIO, EAGAIN, ETIMEDOUT, EINTR, ...) may pass: the disk keeps its last
# known usage, since counting it as 0 would make disk_available_least optimistic.
GONE = frozenset({errno.ENOENT, errno.ESTALE, errno.ENOTDIR, errno.ELOOP, errno.ENAMETOOLONG})
DENIED = frozenset({errno.EACCES, errno.EPERM})
MEASURE_ATTEMPTS = 3  # a file replaced between its stat and its header read is measured again

Signature = tuple[int, int, int, int, int]
Note = Callable[[str, str], object]  # told what is read next: what, of what


def _no_note(what: str, subject: str) -> None:
    pass


class Steady(NamedTuple):
    """A disk's usage and all it was made of: counted again while `key` and `disk` hold."""

    key: tuple[int, ...]  # the file's identity, size, blocks and time stamps
    disk: DomainDisk
    usage: DiskUsage


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
        self.identifier = identifier or shared.StorageIdentifier(path, watch_mounts=True)
        self._problem: str | None = None

    def measure(self) -> LocalStorage:
        """statvfs of the directory; StorageUnavailable if it is missing or not a directory
        (statvfs of a regular file would measure the file system it happens to be on)."""
        try:
            if not stat.S_ISDIR(os.stat(self.path).st_mode):
                raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR))
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
        self.identifier.close()


class DiskMeter:
    """Measures the file disks of every audit, reading only what changed since the last."""

    def __init__(self, racy_window_ns: int = RACY_CHANGE_NS):
        self._racy_window_ns = racy_window_ns
        self._headers: dict[str, tuple[Signature, ImageInfo | str]] = {}
        self._usages: dict[str, DiskUsage] = {}
        self._steady: dict[str, Steady] = {}
        self._problems = ProblemLog(LOG)

    def measure(
        self, disks: Iterable[DomainDisk], note: Note | None = None
    ) -> tuple[DiskUsage, ...]:
        """The usage of every file disk in `disks`; never raises for one disk's sake.

        A disk that is gone (or may not be read) is skipped; one that cannot be read for a
        reason that may pass, or that fails in a way nobody foresaw, keeps its last known
        usage (or the most its header allows), with a warning saying so. `note` is told of
        each file before it is read (Activity.note: what a hung audit waits on).
        """
        audit = _Audit(
            self._headers,
            self._usages,
            self._steady,
            self._problems,
            time.time_ns() - self._racy_window_ns,
            note or _no_note,
        )
        usages = tuple(filter(None, map(audit.measure, disks)))
        self._headers, self._usages, self._steady = audit.headers, audit.known, audit.steady
        self._problems.end_audit()
        return usages


class _Gone(Exception):
    """The disk's path names no file any more: skip it."""


class _Unknown(Exception):
    """The disk could not be measured now, for a reason that may pass.

    `bound` is the most the disk can over-commit, when what was read tells (the header's
    virtual size, with a data file whose allocation is unknown).
    """

    def __init__(self, reason: str, bound: DiskUsage | None = None):
        super().__init__(reason)
        self.reason = reason
        self.bound = bound


class _Changed(Exception):
    """The file was replaced between its stat and its header read: measure it again."""


class _Audit:
    """One pass over the disks: what it read, so the next audit can reuse it."""

    def __init__(
        self,
        headers: dict,
        usages: dict,
        steady: dict,
        problems: ProblemLog,
        settled_ns: int,
        note: Note,
    ):
        self.headers: dict[str, tuple[Signature, ImageInfo | str]] = {}
        self.known: dict[str, DiskUsage] = {}  # measured, or kept from a measurement
        self.steady: dict[str, Steady] = {}
        self._counted: set[str] = set()
        self._previous_headers = headers
        self._previous_usages = usages
        self._previous_steady = steady
        self._problems = problems
        self._settled_ns = settled_ns
        self._seen: set[tuple[int, int]] = set()
        self._note = note

    def measure(self, disk: DomainDisk) -> DiskUsage | None:
        """One disk's usage, or None if it is not a local file or was counted already.

        The per-disk boundary: whatever happens here costs this disk, never the audit.
        """
        path = disk.path
        if disk.source_type != "file" or not path or path in self._counted:
            return None
        self._note("reading disk", path)
        try:
            usage = self._measure(disk, path)
            if usage is not None:
                self.known[path] = usage
        except _Gone as gone:
            skipping = "skipping disk %s of domain %s: %s: %s"
            self._problems.report(path, skipping, disk.target, disk.domain, path, gone)
            return None
        except _Unknown as unknown:
            usage = self._last_known(disk, path, unknown.reason, unknown.bound)
        except Exception as error:  # a bug, or an input nobody foresaw: this disk only
            LOG.debug("measuring disk %s failed", path, exc_info=True)
            usage = self._last_known(disk, path, f"unexpected {type(error).__name__}: {error}")
        if usage is not None:
            self._counted.add(path)
        return usage

    def _measure(
        self, disk: DomainDisk, path: str, attempts: int = MEASURE_ATTEMPTS
    ) -> DiskUsage | None:
        """The disk's usage; a file replaced while it was read is measured again, up to
        `attempts` times in all."""
        try:
            st = os.stat(path)
        except OSError as error:
            raise _not_measured(error) from error
        if not self._first_sight(st):
            return None
        key = (st.st_dev, st.st_ino, st.st_size, st.st_blocks, st.st_mtime_ns, st.st_ctime_ns)
        last = self._previous_steady.get(path)
        if last is not None and last.key == key and (last.disk is disk or last.disk == disk):
            # the disk and its file as the last audit measured them: what it counted then
            header = self._previous_headers.get(path)
            if header is not None:
                self.headers[path] = header
            self.steady[path] = last
            return last.usage
        try:
            return self._measure_changed(disk, path, st, key)
        except _Changed:
            if attempts == 1:
                raise _Unknown("the file kept changing while it was read") from None
            return self._measure(disk, path, attempts - 1)

    def _measure_changed(
        self, disk: DomainDisk, path: str, st: os.stat_result, key: tuple[int, ...]
    ) -> DiskUsage:
        image_format = disk.format or "raw"  # what QEMU assumes when libvirt names no format
        allocated = st.st_blocks * SECTOR_BYTES
        if image_format == "raw":
            return self._steady(
                path, Steady(key, disk, _usage(disk, image_format, st.st_size, allocated))
            )
        if image_format != "qcow2":
            return self._unmeasured(disk, path, image_format, allocated, "format not measured")
        info = self._header(path, st)
        if isinstance(info, str):
            return self._unmeasured(disk, path, image_format, allocated, info)
        if info.data_file is None:
            usage = _usage(disk, image_format, info.virtual_size, allocated)
            if path not in self.headers:  # a header read too soon after a change
                return usage
            return self._steady(path, Steady(key, disk, usage))
        data_file = os.path.join(os.path.dirname(path), info.data_file)
        try:
            data_st = os.stat(data_file)
        except OSError as error:
            problem = f"data file {data_file}: {error.strerror}"
            if error.errno in GONE or error.errno in DENIED:
                return self._unmeasured(disk, path, image_format, allocated, problem)
            # its allocation is unknown: at most the whole virtual size less the image's
            bound = _usage(disk, image_format, info.virtual_size, allocated, data_file)
            raise _Unknown(problem, bound) from error
        if self._first_sight(data_st):  # shared, or the image itself: its blocks count once
            allocated += data_st.st_blocks * SECTOR_BYTES
        return _usage(disk, image_format, info.virtual_size, allocated, data_file)

    def _steady(self, path: str, steady: Steady) -> DiskUsage:
        self.steady[path] = steady
        return steady.usage

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
        cached = self._previous_headers.get(path)
        if cached is not None and cached[0] == signature:
            self.headers[path] = cached
            return cached[1]
        try:
            result: ImageInfo | str = read_qcow2(path, identity=(st.st_dev, st.st_ino))
        except ImageError as error:
            result = f"qcow2 header refused: {error}"
        except OSError as error:
            if error.errno in GONE:
                raise _Gone(error.strerror) from error
            if error.errno in DENIED:
                return f"cannot read its header: {error.strerror}"
            raise _Unknown(f"cannot read its header: {error.strerror}") from error
        if st.st_ctime_ns < self._settled_ns:
            self.headers[path] = (signature, result)
        return result

    def _unmeasured(
        self, disk: DomainDisk, path: str, image_format: str, allocated: int, problem: str
    ):
        self._problems.report(
            path,
            "disk %s: %s; over-commit counted as 0 (format %s)",
            path,
            problem,
            image_format,
        )
        return _usage(disk, image_format, None, allocated, problem=problem)

    def _last_known(
        self, disk: DomainDisk, path: str, reason: str, bound: DiskUsage | None = None
    ) -> DiskUsage:
        """What to count for a disk that could not be measured: never less than it may take."""
        last = self._previous_usages.get(path)
        if last is not None:
            counted = last
            how = f"over-commit kept from the last audit: {last.overcommit_bytes} B"
        elif bound is not None:
            counted = bound
            how = f"over-commit counted as {bound.overcommit_bytes} B, the most its header allows"
        else:
            counted = _usage(disk, disk.format or "raw", None, 0)
            how = "over-commit unknown (never measured), counted as 0"
        self._problems.report(path, "disk %s: %s; %s", path, reason, how)
        kept = dataclasses.replace(
            counted, domain=disk.domain, target=disk.target, problem=f"{reason}; {how}"
        )
        if last is not None:
            self.known[path] = kept  # still the last value measured, for the next audit
        return kept


def _not_measured(error: OSError) -> _Gone | _Unknown:
    """What a disk's failed stat means: _Gone if it is not there (or may not be seen), else
    _Unknown."""
    if error.errno in GONE or error.errno in DENIED:
        return _Gone(error.strerror)
    return _Unknown(error.strerror or str(error))


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


def read_qcow2(path: str, identity: tuple[int, int] | None = None) -> ImageInfo:
    """Read and decode a qcow2 header, fetching past the first block only when it asks to.

    `identity` is the (st_dev, st_ino) of the stat that chose to read the file: if the file
    opened is another one (replaced in between), _Changed is raised, not its header read.
    """
    # O_NONBLOCK: a FIFO swapped in for the file since it was stat'ed must not block the audit
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if identity is not None:
            opened = os.fstat(fd)
            if (opened.st_dev, opened.st_ino) != identity:
                raise _Changed(path)
        head = os.pread(fd, HEADER_PREFETCH_BYTES, 0)

        def read(offset: int, size: int) -> bytes:
            if offset + size <= len(head):
                return head[offset : offset + size]
            return os.pread(fd, size, offset)

        return qcow2.inspect(read)
    finally:
        os.close(fd)
