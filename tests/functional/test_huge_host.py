"""A host whose numbers overflow INT still gets its row: two 2 EiB qcow2 images (qemu-img's,
38 MiB each on disk) put disk_available_least near -2^32 GB, which MariaDB refused (1264) in
an INT column, failing every audit of the host."""

from __future__ import annotations

import os

import pytest

from resource_tracker.db.api import Database
from tests.functional.test_cli import run
from tests.support import hosts, images
from tests.support.libvirtd import domain_xml

EiB = 2**60


@pytest.mark.mysql
def test_two_2_eib_images_are_written_exactly(tmp_path, config, mysql_url, mixed_host):
    disks = [
        images.create(tmp_path / f"{name}.qcow2", "qcow2", "2E", "-o", "cluster_size=2M")
        for name in ("a", "b")
    ]
    uri = hosts.write(
        tmp_path, [domain_xml("huge", [(d, "qcow2") for d in disks], virt_type="test")]
    )
    conf = config(database=mysql_url, uri=uri)
    assert run("resource-tracker-manage", "--config-file", conf, "db", "sync").returncode == 0

    before = free_bytes(mixed_host.instances)
    result = run("resource-tracker", "--config-file", conf, "--once")
    after = free_bytes(mixed_host.instances)

    assert result.returncode == 0, result.stderr
    database = Database(mysql_url)
    (row,) = database.compute_nodes("compute-1")
    database.dispose()
    overcommit = sum(2 * EiB - images.allocated(disk) for disk in disks)
    assert row.disk_available_least < -(2**31)  # beyond INT
    # the free space of a machine shared with other work moves: bracketed by two statvfs
    low, high = sorted((before, after))
    assert (low - overcommit) // 2**30 <= row.disk_available_least <= (high - overcommit) // 2**30


def free_bytes(path) -> int:
    stat = os.statvfs(path)
    return stat.f_frsize * stat.f_bavail
