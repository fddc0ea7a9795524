"""One audit of the test-driver host, end to end into SQLite and MariaDB."""

from __future__ import annotations

import os

import pytest

from resource_tracker.audit.tracker import HostPolicy, ResourceTracker
from resource_tracker.db.api import Database
from resource_tracker.db.models import services
from resource_tracker.exception import DatabaseUnavailable, SchemaNotCurrent
from resource_tracker.virt.disk import FileStorage
from resource_tracker.virt.libvirt.connection import LibvirtConnection
from resource_tracker.virt.libvirt.driver import LibvirtDriver
from tests.support import images
from tests.support.mariadb import free_port

GiB = 2**30


def make_tracker(mixed_host, database) -> ResourceTracker:
    driver = LibvirtDriver(
        LibvirtConnection(mixed_host.uri), FileStorage(str(mixed_host.instances))
    )
    return ResourceTracker("compute-1", driver, database)


def test_first_audit_writes_the_row_qemu_img_and_statvfs_agree_with(mixed_host, database):
    disks = mixed_host.instances
    overcommit = sum(map(images.expected_overcommit, mixed_host.disk_paths))
    tracker = make_tracker(mixed_host, database)

    before = os.statvfs(disks)
    result = tracker.audit(HostPolicy())
    after = os.statvfs(disks)

    assert result.changed
    (node,) = database.compute_nodes("compute-1")
    assert (node.host, node.hypervisor_hostname) == ("compute-1", os.uname().nodename)
    # every domain counts, the shut-off one too, and the reserve, as in Nova 34
    assert (node.vcpus, node.vcpus_used, node.running_vms) == (12, 15, 4)
    assert (node.memory_mb, node.memory_mb_used) == (32768, 512 + 15360)
    assert node.free_ram_mb == 32768 - 512 - 15360
    assert node.local_gb == after.f_frsize * after.f_blocks // GiB
    # free space may move while the audit runs: the row matches one end or the other
    assert node.disk_available_least in {
        (fs.f_frsize * fs.f_bavail - overcommit) // GiB for fs in (before, after)
    }
    assert node.local_gb_used in {
        fs.f_frsize * (fs.f_blocks - fs.f_bfree) // GiB for fs in (before, after)
    }
    assert node.hypervisor_type == "TEST" and node.current_workload == 1
    assert node.deleted == 0 and len(node.uuid) == 36 and node.created_at is not None


def test_later_audits_update_the_same_row(mixed_host, database):
    make_tracker(mixed_host, database).audit(HostPolicy())
    (first,) = database.compute_nodes("compute-1")

    unchanged = make_tracker(mixed_host, database).audit(HostPolicy())
    changed = make_tracker(mixed_host, database).audit(HostPolicy(reserved_host_memory_mb=4096))

    (node,) = database.compute_nodes("compute-1")
    assert not unchanged.changed and changed.changed
    assert (node.id, node.uuid) == (first.id, first.uuid)
    assert node.free_ram_mb == 32768 - 15360 - 4096
    assert node.updated_at is not None
    with database.engine.connect() as connection:
        (service,) = connection.execute(services.select()).all()
    assert (service.host, service.binary, service.report_count) == (
        "compute-1",
        "resource-tracker",
        3,
    )
    assert node.service_id == service.id


def test_missing_schema_names_the_fix(sqlite_url):
    with (
        Database(sqlite_url) as database,
        pytest.raises(SchemaNotCurrent, match="resource-tracker-manage db sync"),
    ):
        database.check_schema()


def test_unreachable_database_is_reported_without_its_password():
    database = Database(f"mysql+pymysql://tracker:s3cret-pw@127.0.0.1:{free_port()}/rt")

    with pytest.raises(DatabaseUnavailable) as raised:
        database.check_schema()

    assert "s3cret-pw" not in str(raised.value)
    assert "tracker:***@127.0.0.1" in str(raised.value)
