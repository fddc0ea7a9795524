"""This host's last audit, disk by disk, kept in a file for `resource-tracker-manage nodes show`.

compute_nodes holds one row per host. The per-disk breakdown behind its disk_available_least
would be thousands of rows per host rewritten every period in the fleet's database, so each
daemon keeps its own last one locally, replaced atomically after every audit it committed.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import tempfile
from datetime import datetime, timezone

from resource_tracker.resources import DiskUsage, HostResources

LOG = logging.getLogger(__name__)

FILE_NAME = "last-audit.json"
# Written after every audit: a flat dict per disk and json.dumps (the C encoder) cost 20 ms at
# 10,000 disks where dataclasses.asdict (a deep copy) and json.dump (pure Python) cost 120 ms.
DISK_FIELDS = tuple(field.name for field in dataclasses.fields(DiskUsage))


class LastAuditFile:
    def __init__(self, path: str):
        self.path = path
        self._last_error: str | None = None

    def write(self, host: str, resources: HostResources) -> None:
        """Replace the file with this audit's breakdown; a failure is a warning, once."""
        record = {
            "host": host,
            "hypervisor_hostname": resources.hypervisor_hostname,
            "audited_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "free_bytes": resources.storage.free_bytes,
            "overcommit_bytes": resources.disk_overcommit_bytes,
            "disks": [
                {name: getattr(disk, name) for name in DISK_FIELDS} for disk in resources.disks
            ],
        }
        directory = os.path.dirname(self.path) or "."
        try:
            with tempfile.NamedTemporaryFile(
                "w", dir=directory, prefix=".last-audit-", delete=False
            ) as temporary:
                temporary.write(json.dumps(record))
            os.replace(temporary.name, self.path)
        except OSError as error:
            message = f"cannot record the last audit in {self.path}: {error.strerror}"
            if message != self._last_error:
                LOG.warning("%s", message)
            self._last_error = message
            return
        self._last_error = None

    def read(self, host: str) -> dict | None:
        """The last audit recorded here for `host`, or None if there is none."""
        try:
            with open(self.path) as recorded:
                record = json.load(recorded)
        except (OSError, ValueError):
            return None
        return record if record.get("host") == host else None
