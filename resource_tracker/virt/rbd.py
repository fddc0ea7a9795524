"""Instance disks as RBD images in one pool of a Ceph cluster (`images_type = rbd`).

The capacity is the pool's, read from the monitors as `ceph df` shows it: free is the pool's
MAX AVAIL (what guests can still write, after replication and the full ratio, limited by the
fullest OSD), used is its STORED (the guests' bytes, before replication), total is the two
added. Nova reports the cluster's raw size as total beside the same MAX AVAIL as free, which
mixes units: with three replicas its local_gb is three times what guests can ever write.

An image's over-commit is its provisioned size minus what it has allocated, counted in whole
objects from its object map (what `rbd du` shows), so it costs one image open and a read of
the object map, never a scan of its objects; an image without fast-diff counts 0, with a
warning. A clone counts only its own objects: writing to it copies objects from its parent.
An image that is gone is skipped; one the user may not read counts 0; one that fails
otherwise (EIO) keeps its last known over-commit, or counts its whole size.

Ceph's own Python binding (python3-rados, python3-rbd) is used in-process: one `df` costs
0.4 ms where the `ceph df` command costs 190 ms, one image 5 ms where `rbd du` costs 40 ms
(bench/rbd.py). Every call has a time limit (`rbd_connect_timeout`, applied to connecting
and to each request to a monitor or an OSD); a call that fails for want of the cluster makes
the storage unavailable for this audit, which the daemon logs once per outage.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Iterable
from typing import Any

from resource_tracker.exception import StorageUnavailable
from resource_tracker.resources import DiskUsage, DomainDisk, LocalStorage
from resource_tracker.virt.problems import ProblemLog

LOG = logging.getLogger(__name__)


def load_binding():
    """Ceph's Python modules; ImportError names the packages if they are missing."""
    try:
        import rados
        import rbd
    except ImportError as error:
        raise ImportError(
            f"Ceph's Python binding cannot be imported ({error}): install python3-rados and "
            "python3-rbd, and make them visible to this Python (docs/storage.md: Ceph RBD)"
        ) from None
    return rados, rbd


class RbdStorage:
    def __init__(self, pool: str, ceph_conf: str | None, user: str | None, timeout_s: float):
        self.pool = pool
        self.ceph_conf = ceph_conf or None  # None: Ceph's own search (/etc/ceph/ceph.conf)
        self.user = user or "admin"
        self.timeout_s = timeout_s
        self._rados, self._rbd = load_binding()
        # a rados.Rados and its rados.Ioctx once connected (Any: the binding is untyped)
        self._cluster: Any = None
        self._ioctx: Any = None
        self._problems = ProblemLog(LOG)
        self._known: dict[str, DiskUsage] = {}  # last read usage of the last audit's images

    def measure(self) -> LocalStorage:
        """The pool's size and free space, and the cluster's id."""
        df = self._call("reading the pool's usage", self._df)
        pools = [pool["stats"] for pool in df.get("pools", ()) if pool.get("name") == self.pool]
        if not pools:
            raise StorageUnavailable(f"Ceph pool {self.pool} does not exist")
        stats = pools[0]
        stored = stats.get("stored", stats.get("bytes_used", 0))
        free = stats["max_avail"]
        return LocalStorage(
            total_bytes=stored + free,
            free_bytes=free,
            used_bytes=stored,
            shared_id=f"rbd:{self._cluster.get_fsid()}/{self.pool}",
        )

    def measure_images(self, disks: Iterable[DomainDisk]) -> tuple[DiskUsage, ...]:
        """The over-commit of the domains' RBD disks that live in this pool."""
        self._call("connecting", self._connect)
        usages: dict[str, DiskUsage] = {}
        for disk in disks:
            image = self._image_name(disk)
            if image is None or f"{self.pool}/{image}" in usages:
                continue
            usage = self._call(
                f"reading image {self.pool}/{image}", self._image_usage, disk, image
            )
            if usage is not None:
                usages[usage.path] = usage
        self._problems.end_audit()
        # what each image of this audit last counted when it could be read
        known = {path: self._known.get(path) for path in usages}
        known |= {path: usage for path, usage in usages.items() if usage.problem is None}
        self._known = {path: usage for path, usage in known.items() if usage is not None}
        return tuple(usages.values())

    def close(self) -> None:
        if self._cluster is not None:
            self._cluster.shutdown()
        self._cluster = self._ioctx = None

    def _image_name(self, disk: DomainDisk) -> str | None:
        if disk.source_type != "network" or disk.protocol != "rbd" or not disk.path:
            return None
        pool, _, image = disk.path.partition("/")
        # another pool (a Cinder volume), a namespace or a snapshot: not an instance disk here
        if pool != self.pool or not image or "/" in image or "@" in image:
            return None
        return image

    def _image_usage(self, disk: DomainDisk, image_name: str) -> DiskUsage | None:
        rbd = self._rbd
        path = f"{self.pool}/{image_name}"
        size = None
        try:
            with rbd.Image(self._ioctx, image_name, read_only=True) as image:
                size = image.size()
                problem = _why_allocation_unknown(rbd, image)
                if problem is None:
                    allocated = _allocated(image, size)
                    return _usage(disk, path, size, allocated, max(0, size - allocated))
        except rbd.ImageNotFound:
            self._problems.report(
                path, "skipping disk %s of domain %s: RBD image %s does not exist",
                disk.target, disk.domain, path,
            )  # fmt: skip
            return None
        except (rbd.Timeout, rbd.ConnectionShutdown):
            raise
        except rbd.PermissionError as error:
            problem = f"not allowed to read it: {error}"
        except rbd.Error as error:
            return self._unknown(disk, path, size, f"cannot read it: {error}")
        self._problems.report(path, "disk %s: %s; over-commit counted as 0", path, problem)
        return _usage(disk, path, size, 0, 0, problem)

    def _unknown(self, disk: DomainDisk, path: str, size: int | None, problem: str) -> DiskUsage:
        """An image that fails in a way that may pass: never counted optimistically."""
        usage = self._known.get(path)
        if usage is not None:
            counted = "counting its last known over-commit"
        elif size is not None:  # never read: all of it may still be written
            counted, usage = "counting its whole size", _usage(disk, path, size, 0, size)
        else:
            counted, usage = "its size is unknown: counted as 0", _usage(disk, path, None, 0, 0)
        self._problems.report(path, "disk %s: %s; %s", path, problem, counted)
        return dataclasses.replace(usage, domain=disk.domain, target=disk.target, problem=problem)

    def _df(self) -> dict:
        self._connect()
        command = json.dumps({"prefix": "df", "format": "json"})
        status, out, error = self._cluster.mon_command(command, b"", timeout=self.timeout_s)
        if status != 0:  # a monitor that does not answer in time: -ETIMEDOUT
            raise OSError(-status, error or os.strerror(-status))
        return json.loads(out)

    def _connect(self) -> None:
        if self._cluster is not None:
            return
        limit = str(self.timeout_s)
        cluster = self._rados.Rados(
            rados_id=self.user,
            conf={
                "client_mount_timeout": limit,
                "rados_mon_op_timeout": limit,
                "rados_osd_op_timeout": limit,
                "log_file": "",
                "log_to_stderr": "false",
                "err_to_stderr": "false",
            },
        )
        try:
            cluster.conf_read_file(self.ceph_conf)
            cluster.connect(timeout=self.timeout_s)
            self._ioctx = cluster.open_ioctx(self.pool)
        except Exception:
            cluster.shutdown()
            raise
        self._cluster = cluster

    def _call(self, what: str, function, *args):
        """Run a Ceph call; any failure of the cluster becomes StorageUnavailable."""
        try:
            return function(*args)
        except StorageUnavailable:
            raise
        except (self._rados.Error, self._rbd.Error, OSError) as error:
            if self._ioctx is None:  # not connected: try afresh next audit
                self.close()
            raise StorageUnavailable(
                f"Ceph pool {self.pool} as client.{self.user}: {what} failed: {error}"
            ) from error


def _why_allocation_unknown(rbd, image) -> str | None:
    """Why the image's allocation cannot be had from its object map, if it cannot."""
    if not image.features() & rbd.RBD_FEATURE_FAST_DIFF:
        return "no fast-diff feature, so no cheap allocation"
    if image.flags() & rbd.RBD_FLAG_FAST_DIFF_INVALID:
        return "its object map is invalid (rbd object-map rebuild fixes it)"
    return None


def _allocated(image, size: int) -> int:
    """Bytes of the objects the image itself holds (not its parent's), from its object map."""
    allocated = 0

    def count(_offset: int, length: int, exists: bool) -> None:
        nonlocal allocated
        if exists:
            allocated += length

    image.diff_iterate(0, size, None, count, include_parent=False, whole_object=True)
    return allocated


def _usage(disk, path, size, allocated, overcommit, problem=None) -> DiskUsage:
    return DiskUsage(
        domain=disk.domain,
        target=disk.target,
        path=path,
        format="rbd",
        virtual_bytes=size,
        allocated_bytes=allocated,
        overcommit_bytes=overcommit,
        problem=problem,
    )
