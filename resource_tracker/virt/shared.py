"""Which storage the instance disks of a file-based host live on, and whether others share it.

Hosts that mount one share at instances_path must report the same storage id, so the fleet
counts the share once and each host subtracts what every host's thin disks may still grow
into; two local disks must never look alike. Two ways to tell, checked in this order:

1. A marker file at the top of instances_path, written once by
   `resource-tracker-manage storage init` (the daemon only reads it). It names the storage
   and records where it was made: its own inode number and file system type, and, on a local
   file system, the file system's id and the machine's id. A marker copied elsewhere (a host
   image cloned with the marker in it, a directory copied to another file system) no longer
   matches and is ignored with a warning: a local file system cannot be shared between two
   machines, so a marker found on one is honoured only on the machine that made it.
2. The mount in /proc/self/mountinfo that holds instances_path: on a network or cluster file
   system (NFS, CephFS, GlusterFS, ...), its type and source, which every client mounting the
   share the same way sees alike ("nfs:fs1.example.org:/export").

Anything else is this host's own storage (no shared id).
"""

from __future__ import annotations

import io
import json
import os
import select
import uuid
from dataclasses import dataclass

MARKER_NAME = ".resource-tracker-storage"
MOUNTINFO = "/proc/self/mountinfo"
MACHINE_ID = "/etc/machine-id"
NETWORK_FILESYSTEMS = frozenset(
    {
        "nfs", "nfs4", "cifs", "smb3", "ceph", "fuse.ceph-fuse", "glusterfs",
        "fuse.glusterfs", "lustre", "gpfs", "beegfs", "ocfs2", "gfs2", "fuse.sshfs",
    }
)  # fmt: skip
MAX_ID_LENGTH = 255  # the storage_id column


@dataclass(frozen=True, slots=True)
class Mount:
    mount_point: str
    fstype: str
    source: str


@dataclass(frozen=True, slots=True)
class Identity:
    """What instances_path is on: `shared_id` is None for this host's own storage;
    `problem` says why a marker or a mount could not be used (a warning)."""

    shared_id: str | None
    how: str
    mount: Mount | None
    problem: str | None = None


class StorageIdentifier:
    """Tells which storage a directory is on; paths are arguments so tests can redirect them."""

    def __init__(
        self,
        path: str,
        mountinfo: str = MOUNTINFO,
        machine_id: str = MACHINE_ID,
        watch_mounts: bool = False,
    ):
        """`watch_mounts`: for a daemon that asks every audit, the mounts are kept and read
        again only once they changed (a MountTable: an open file, until close())."""
        self.path = path
        self.mountinfo = mountinfo
        self.machine_id = machine_id
        self._mounts = MountTable(mountinfo) if watch_mounts else None

    def identify(self) -> Identity:
        if self._mounts is not None:
            mount = self._mounts.mount_of(self.path)
        else:
            mount = mount_of(self.path, self.mountinfo)
        marker_id, problem = self._marker(mount)
        if marker_id is not None:
            return Identity(f"marker:{marker_id}", "marker", mount)
        if mount is None or mount.fstype not in NETWORK_FILESYSTEMS:
            return Identity(None, "local", mount, problem)
        if not (":" in mount.source or "@" in mount.source):
            problem = problem or (
                f"{mount.fstype} source {mount.source!r} does not name the share: counted as "
                "this host's own storage; run resource-tracker-manage storage init to name it"
            )
            return Identity(None, "local", mount, problem)
        shared_id = _shorten_storage_id(f"{_fstype(mount.fstype)}:{mount.source}")
        return Identity(shared_id, "mount", mount, problem)

    def close(self) -> None:
        if self._mounts is not None:
            self._mounts.close()

    def _marker(self, mount: Mount | None) -> tuple[str | None, str | None]:
        """The marker's storage id if it holds here, else why not; (None, None) if none."""
        where = f"storage marker {os.path.join(self.path, MARKER_NAME)}"
        try:
            content, inode = read_marker(self.path)
        except FileNotFoundError:
            return None, None
        except (OSError, ValueError) as error:
            return None, f"{where} ignored: {error}"
        fstype = _fstype(mount.fstype) if mount else None
        if content.get("inode") != inode or content.get("fstype") != fstype:
            return None, (
                f"{where} was made on another file system ({content.get('fstype')}) and copied "
                f"here ({fstype}); ignored: run resource-tracker-manage storage init --force"
            )
        if fstype in NETWORK_FILESYSTEMS:
            return content["storage_id"], None
        same_fs = content.get("fsid") == os.statvfs(self.path).f_fsid
        if not same_fs or content.get("machine_id") != _read_machine_id(self.machine_id):
            return None, (
                f"{where} is on a local file system ({fstype}) but was made on another "
                "machine (a cloned host image?); ignored: local storage is never shared"
            )
        return content["storage_id"], None


def read_marker(path: str) -> tuple[dict, int]:
    """The marker's content and the inode it was found at; FileNotFoundError if there is
    none, ValueError if the file is not a marker."""
    with open(os.path.join(path, MARKER_NAME), "rb") as marker:
        inode = os.fstat(marker.fileno()).st_ino
        content = json.loads(marker.read(4096))
    if not isinstance(content, dict) or not isinstance(content.get("storage_id"), str):
        raise ValueError("not a storage marker")
    return content, inode


def write_marker(path: str, mountinfo: str = MOUNTINFO, machine_id: str = MACHINE_ID) -> str:
    """Create the marker at the top of `path` (atomically); return its storage id."""
    mount = mount_of(path, mountinfo)
    marker_path = os.path.join(path, MARKER_NAME)
    temporary = f"{marker_path}.{os.getpid()}.tmp"
    storage_id = str(uuid.uuid4())
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        content = {
            "storage_id": storage_id,
            "inode": os.fstat(fd).st_ino,  # a rename keeps it; a copy gets another
            "fstype": _fstype(mount.fstype) if mount else None,
            "fsid": os.statvfs(path).f_fsid,
            "machine_id": _read_machine_id(machine_id),
        }
        os.write(fd, json.dumps(content, sort_keys=True).encode() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, marker_path)
    return storage_id


def mount_of(path: str, mountinfo: str = MOUNTINFO) -> Mount | None:
    """The mount holding `path`: the longest mount point above it, the last one mounted."""
    try:
        with open(mountinfo, "rb") as lines:
            mounts = _mounts(lines.read())
    except OSError:
        return None
    return _holding(mounts, os.path.realpath(path))


class MountTable:
    """mount_of, for a daemon that asks every audit: /proc/self/mountinfo is read again only
    once the kernel says the mounts changed (an open mountinfo polls POLLPRI after a change,
    proc(5)); reading it costs 50-100 us with 20 mounts, and a host may have hundreds. A
    file outside /proc (a test's stand-in) is read at every call."""

    def __init__(self, mountinfo: str = MOUNTINFO):
        self.mountinfo = mountinfo
        self._fd: int | None = None
        self._poll = select.poll()
        self._mounts: list[Mount] = []

    def mount_of(self, path: str) -> Mount | None:
        if not self.mountinfo.startswith("/proc/"):
            return mount_of(path, self.mountinfo)
        try:
            if self._fd is None:
                self._fd = os.open(self.mountinfo, os.O_RDONLY | os.O_CLOEXEC)
                self._poll.register(self._fd, select.POLLPRI)
                self._mounts = self._read(self._fd)
            elif self._poll.poll(0):  # the mounts changed since the last poll (or the open)
                self._mounts = self._read(self._fd)
        except OSError:
            self.close()
            return None
        return _holding(self._mounts, os.path.realpath(path))

    def close(self) -> None:
        if self._fd is not None:
            self._poll.unregister(self._fd)
            os.close(self._fd)
            self._fd = None

    @staticmethod
    def _read(fd: int) -> list[Mount]:
        os.lseek(fd, 0, os.SEEK_SET)
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        return _mounts(b"".join(chunks))


def _mounts(content: bytes) -> list[Mount]:
    lines = io.TextIOWrapper(io.BytesIO(content), encoding="utf-8", errors="surrogateescape")
    return [mount for line in lines if (mount := _parse(line)) is not None]


def _holding(mounts: list[Mount], real: str) -> Mount | None:
    found: Mount | None = None
    for mount in mounts:
        if not _contains(mount.mount_point, real):
            continue
        if found is None or len(mount.mount_point) >= len(found.mount_point):
            found = mount
    return found


def _parse(line: str) -> Mount | None:
    # id parent major:minor root mount_point options [optional fields...] - fstype source ...
    fields = line.split()
    try:
        separator = fields.index("-", 6)
        return Mount(_unescape(fields[4]), fields[separator + 1], _unescape(fields[separator + 2]))
    except (ValueError, IndexError):
        return None


def _unescape(field: str) -> str:
    # the kernel writes space, tab, newline and backslash as octal escapes: \040 \011 \012 \134
    for escaped, plain in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(escaped, plain)
    return field


def _contains(mount_point: str, path: str) -> bool:
    return path == mount_point or path.startswith(mount_point.rstrip("/") + "/")


def _fstype(fstype: str) -> str:
    return "nfs" if fstype == "nfs4" else fstype  # one share mounted as v3 here, v4 there


def _shorten_storage_id(storage_id: str) -> str:
    """`storage_id` as it is if it fits MAX_ID_LENGTH, else its start and a UUID of the whole."""
    if len(storage_id) <= MAX_ID_LENGTH:
        return storage_id
    return f"{storage_id[:200]}~{uuid.uuid5(uuid.NAMESPACE_URL, storage_id)}"


def _read_machine_id(path: str) -> str | None:
    try:
        with open(path) as machine_id:
            return machine_id.read().strip() or None
    except OSError:
        return None
