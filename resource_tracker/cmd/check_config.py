"""resource-tracker --check-config: every start-up check that writes nothing, one line each.

The config files (already loaded: a file the daemon would refuse never gets here), the
instance disks' storage, libvirt, the CPU sets and reserved huge pages against the host, and
the database at this program's schema revision. Each check has START_CHECK_S; a pass is a
line on stdout, a problem a line on stderr, and any problem makes the exit status 2. Where
start-up only warns (libvirt or the database down: the daemon starts and its audits retry),
this check fails: it tells whether the host is ready now.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from oslo_config import cfg

from resource_tracker import conf as rt_conf
from resource_tracker.audit.tracker import ResourceTracker
from resource_tracker.cmd import instances, open_database, within
from resource_tracker.cmd.host_shape import shape_policy, start_warnings
from resource_tracker.db.api import Database
from resource_tracker.exception import ResourceTrackerError
from resource_tracker.text import one_line
from resource_tracker.timeouts import START_CHECK_S
from resource_tracker.virt.disk import FileStorage
from resource_tracker.virt.libvirt.connection import LibvirtConnection
from resource_tracker.virt.libvirt.driver import LibvirtDriver


class CheckFailed(ResourceTrackerError):
    """One check's problem, said in one line."""


def run(conf: cfg.ConfigOpts) -> int:
    """Print each check's line; 0 if all passed, 2 if any failed."""
    print(f"ok: config file {', '.join(rt_conf.config_files(conf)) or '(none: defaults)'}")
    database = open_database(conf)
    connection = LibvirtConnection(conf.libvirt.connection_uri)
    driver = LibvirtDriver(connection, _no_storage(conf))
    tracker = ResourceTracker(conf.host, driver, database, shape_policy=shape_policy(conf))
    checks: list[tuple[str, Callable[[], str]]] = [
        ("storage", lambda: _storage(conf)),
        ("libvirt", lambda: _libvirt(connection)),
        ("host", lambda: _host(tracker)),
        ("database", lambda: _database(database)),
    ]
    failed: set[str] = set()
    try:
        for name, check in checks:
            if name == "host" and "libvirt" in failed:
                print("skipped: CPU sets and reserved huge pages (libvirt did not answer)")
                continue
            try:
                print(f"ok: {within(START_CHECK_S, check, _timed_out(name))}")
            except ResourceTrackerError as error:
                failed.add(name)
                program = os.path.basename(sys.argv[0])
                print(f"{program}: {one_line(str(error))}", file=sys.stderr)
        for warning in start_warnings(conf):
            print(f"warning: {warning}")
    finally:
        driver.close()
        database.dispose()
    return 2 if failed else 0


def _no_storage(conf: cfg.ConfigOpts) -> FileStorage:
    """Storage the libvirt checks never measure (the storage check opens the real one)."""
    return FileStorage(conf.instances_path)


def _timed_out(name: str) -> Callable[[], CheckFailed]:
    return lambda: CheckFailed(f"{name}: no answer within {START_CHECK_S:.0f} s")


def _storage(conf: cfg.ConfigOpts) -> str:
    try:
        storage, slow = instances.open_storage(conf)
    except ResourceTrackerError as error:
        raise CheckFailed(str(error)) from None
    if slow:
        raise CheckFailed(f"[DEFAULT] {slow}")
    storage.close()
    if conf.libvirt.images_type in ("lvm", "rbd"):
        return f"[libvirt] images_type = {conf.libvirt.images_type} (measured by the audits)"
    return f"[DEFAULT] instances_path = {conf.instances_path}"


def _libvirt(connection: LibvirtConnection) -> str:
    connection.get()  # HypervisorUnavailable: one line naming the URI
    return f"libvirt at {connection.uri}"


def _host(tracker: ResourceTracker) -> str:
    problems = tracker.check_host()
    if problems:
        raise CheckFailed("; ".join(problems))
    return "CPU sets and reserved huge pages fit the host"


def _database(database: Database) -> str:
    if database.is_new_sqlite():
        return f"database {database.masked_url}: new, the daemon creates its schema at start"
    database.check_schema()  # DatabaseUnavailable or SchemaNotCurrent: one line, masked
    return f"database {database.masked_url} at schema revision {database.schema_revision()}"
