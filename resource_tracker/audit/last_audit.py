"""This host's last audit, disk by disk, kept in a file for `resource-tracker-manage nodes show`.

compute_nodes holds one row per host. The per-disk breakdown behind its disk_available_least
would be thousands of rows per host rewritten every period in the fleet's database, so each
daemon keeps its own last one locally, replaced atomically after every audit it committed:
written to a temporary file in the same directory (removed again if the write fails, on a
full disk say), flushed to the disk, renamed over the old one, and the directory flushed,
so that a power cut leaves the old file or the new one, never an empty one. An audit that
finds what the file holds (the same disks, free space, domains) rewrites nothing: it only
sets the file's modification time, which a reader takes for audited_at when it is later
than the recorded one (a steady audit at 1,000 disks saved 4 ms and two fsyncs). It is created
0640 whatever the umask, like the SQLite database (modes.py): operators in the daemon's group
read it with `nodes show`, other users cannot.

The file holds one LastAudit record as a JSON object: host, hypervisor_hostname, audited_at
(ISO 8601 with its UTC offset, whole seconds), free_bytes, overcommit_bytes and disks, one
object per disk with DiskUsage's fields, then flavors (the Nova flavors of the host's
domains, one object each with FlavorSeen's fields, audit/flavors.py) and
domains_without_flavor. A disk object without a field that has a default (written before the
field existed) reads as that default; a record without flavors (written before they were
kept) reads as flavors None, "not recorded"; keys not known here are ignored, so a reader of
an older version reads a newer record.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from resource_tracker import modes
from resource_tracker.audit import flavors as flavors_seen
from resource_tracker.audit.flavors import FlavorSeen
from resource_tracker.resources import DiskUsage, HostResources

LOG = logging.getLogger(__name__)

FILE_NAME = "last-audit.json"
# Written after every audit: a flat dict per disk and json.dumps (the C encoder) cost 20 ms at
# 10,000 disks where dataclasses.asdict (a deep copy) and json.dump (pure Python) cost 120 ms.
DISK_FIELDS = tuple(field.name for field in dataclasses.fields(DiskUsage))


@dataclass(frozen=True, slots=True)
class LastAudit:
    """One audit's disk breakdown, as this host recorded it."""

    host: str
    hypervisor_hostname: str
    audited_at: datetime  # aware, whole seconds
    free_bytes: int
    overcommit_bytes: int
    disks: tuple[DiskUsage, ...]
    flavors: tuple[FlavorSeen, ...] | None = None  # None: a record from before they were kept
    domains_without_flavor: int = 0

    @classmethod
    def of(cls, host: str, resources: HostResources, audited_at: datetime) -> LastAudit:
        flavors, without_flavor = flavors_seen.seen(resources)
        return cls(
            host=host,
            hypervisor_hostname=resources.hypervisor_hostname,
            audited_at=audited_at.replace(microsecond=0),
            free_bytes=resources.storage.free_bytes,
            overcommit_bytes=resources.disk_overcommit_bytes,
            disks=resources.disks,
            flavors=flavors,
            domains_without_flavor=without_flavor,
        )

    def as_json(self) -> dict[str, Any]:
        """The file's JSON object (also what `nodes show --format json` prints)."""
        return {
            "host": self.host,
            "hypervisor_hostname": self.hypervisor_hostname,
            "audited_at": self.audited_at.isoformat(timespec="seconds"),
            "free_bytes": self.free_bytes,
            "overcommit_bytes": self.overcommit_bytes,
            "disks": [{name: getattr(disk, name) for name in DISK_FIELDS} for disk in self.disks],
            "flavors": None
            if self.flavors is None
            else [flavor.as_json() for flavor in self.flavors],
            "domains_without_flavor": self.domains_without_flavor,
        }

    @classmethod
    def from_json(cls, record: Mapping[str, Any]) -> LastAudit:
        """The record of a file's JSON object; ValueError if it is not one."""
        try:
            audited_at = datetime.fromisoformat(record["audited_at"])
            return cls(
                host=record["host"],
                hypervisor_hostname=record["hypervisor_hostname"],
                audited_at=audited_at,
                free_bytes=record["free_bytes"],
                overcommit_bytes=record["overcommit_bytes"],
                disks=tuple(
                    DiskUsage(**{name: disk[name] for name in DISK_FIELDS if name in disk})
                    for disk in record["disks"]
                ),
                flavors=None
                if record.get("flavors") is None
                else tuple(FlavorSeen.from_json(flavor) for flavor in record["flavors"]),
                domains_without_flavor=int(record.get("domains_without_flavor", 0)),
            )
        except KeyError as error:
            raise ValueError(f"no {error}") from error
        except TypeError as error:
            raise ValueError(str(error)) from error


class LastAuditFile:
    def __init__(self, path: str):
        self.path = path
        self._last_error: str | None = None
        self._written: tuple | None = None  # what the file was last written from
        self.writes = 0  # the file replaced
        self.touches = 0  # the file found current: only its time set

    def write(self, host: str, resources: HostResources) -> None:
        """Replace the file with this audit's breakdown, unless it holds it already; a
        failure is a warning, once."""
        content = (
            host,
            resources.hypervisor_hostname,
            resources.storage.free_bytes,
            resources.domain_states,
            resources.nova_domains,
            resources.disks,
        )
        if content == self._written:
            try:
                os.utime(self.path)
            except OSError:
                pass  # replaced below, or the warning says why not
            else:
                self.touches += 1
                return
        self._written = None
        record = LastAudit.of(host, resources, datetime.now(timezone.utc))
        try:
            replace_durably(self.path, json.dumps(record.as_json()).encode())
        except OSError as error:
            message = f"cannot record the last audit in {self.path}: {error.strerror}"
            if message != self._last_error:
                LOG.warning("%s", message)
            self._last_error = message
            return
        self._last_error = None
        self._written = content
        self.writes += 1

    def read(self, host: str) -> LastAudit | None:
        """The last audit recorded here for `host`, or None if none is; Unreadable if the file
        is there but cannot be read (permissions, say) or is not a record."""
        try:
            with open(self.path, "rb") as recorded:
                record = json.load(recorded)
                touched = datetime.fromtimestamp(
                    int(os.fstat(recorded.fileno()).st_mtime), timezone.utc
                )
        except FileNotFoundError:
            return None
        except OSError as error:
            raise Unreadable(f"cannot read {self.path}: {error.strerror}") from error
        except ValueError as error:
            raise Unreadable(f"{self.path} is not a last-audit record: {error}") from error
        if not isinstance(record, dict):
            raise Unreadable(f"{self.path} is not a last-audit record")
        if record.get("host") != host:
            return None
        try:
            last = LastAudit.from_json(record)
        except ValueError as error:
            raise Unreadable(f"{self.path} is not a last-audit record: {error}") from error
        if touched > last.audited_at:  # audits since found the same
            return dataclasses.replace(last, audited_at=touched)
        return last


class Unreadable(Exception):
    """The last-audit file exists but cannot be read; the message says why."""


def replace_durably(path: str, data: bytes) -> None:
    """Make `path` hold `data`, or leave it as it was: never half written, never empty."""
    directory = os.path.dirname(path) or "."
    temporary = os.path.join(directory, f".{os.path.basename(path)}-{secrets.token_hex(4)}")
    fd = modes.create_file(temporary)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    directory_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(directory_fd)  # the rename itself reaches the disk
    finally:
        os.close(directory_fd)
