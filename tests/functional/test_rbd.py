"""RBD storage against a real Ceph cluster the suite starts (tests/support/ceph.py): the pool's
capacity as `ceph df` shows it, each image's over-commit as `rbd du` shows it, and the time
limit on every call when a monitor or the OSD stops answering."""

from __future__ import annotations

import json
import logging
import os
import time
import uuid

import pytest

from resource_tracker.exception import StorageUnavailable
from resource_tracker.resources import DomainDisk
from resource_tracker.virt.libvirt.connection import LibvirtConnection
from resource_tracker.virt.libvirt.driver import LibvirtDriver
from resource_tracker.virt.rbd import RbdStorage
from tests.functional.test_cli import run
from tests.support import hosts, images
from tests.support.ceph import POOL, TRACKER_USER
from tests.support.daemon import Daemon
from tests.support.hosts import SHUT_OFF
from tests.support.libvirtd import domain_xml
from tests.support.waiting import wait_for

pytestmark = pytest.mark.ceph
TIMEOUT_S = 2
MiB, GiB = 2**20, 2**30


def rbd_disk(name: str, domain="vm", target="vda") -> DomainDisk:
    return DomainDisk(domain, target, "network", "disk", name, "raw", "rbd")


@pytest.fixture
def storage(ceph):
    storage = RbdStorage(POOL, str(ceph.conf), TRACKER_USER, TIMEOUT_S)
    yield storage
    storage.close()


@pytest.fixture
def image(ceph):
    """A function making an image with a name of this test's own; returns 'pool/name'."""

    def make(size: str, written: str | None = None, *args: str) -> str:
        name = f"{POOL}/disk-{uuid.uuid4().hex[:8]}"
        ceph.rbd("create", "--size", size, *args, name)
        if written:
            ceph.write(name, written)
        return name

    return make


def rbd_du(ceph, name: str) -> dict:
    (entry,) = [i for i in ceph.du()["images"] if f"{POOL}/{i['name']}" == name]
    return entry


def settled_df(ceph, stored_at_least: int) -> dict:
    """`ceph df` once it shows what was written and two reads a report apart agree (the OSD
    reports to the manager, and the manager to the monitors, every second here)."""
    assert wait_for(lambda: pool_stats(ceph.df())["stored"] >= stored_at_least, 30)
    previous = ceph.df()
    while True:
        time.sleep(1.5)
        current = ceph.df()
        if current["pools"] == previous["pools"]:
            return current
        previous = current


def pool_stats(df: dict) -> dict:
    (pool,) = [p["stats"] for p in df["pools"] if p["name"] == POOL]
    return pool


def test_the_pools_capacity_is_what_ceph_df_says(ceph, storage, image):
    image("1G", "8M")
    df = settled_df(ceph, 8 * 2**20)

    measured = storage.measure()

    pool = pool_stats(df)
    assert measured.free_bytes == pool["max_avail"]
    assert measured.used_bytes == pool["stored"]
    assert measured.total_bytes == pool["stored"] + pool["max_avail"]
    # not the cluster's raw size, which Nova reports: it ignores replication and other pools
    assert measured.total_bytes != df["stats"]["total_bytes"]
    assert measured.shared_id == f"rbd:{ceph.fsid}/{POOL}"


def test_each_image_counts_its_size_minus_its_objects_as_rbd_du_does(ceph, storage, image):
    full = image("64M", "64M")
    partly = image("10G", "12M")
    partial_object = image(
        "1G",
        "4K",
    )  # 4 KiB written: its object counts whole
    empty = image("2G")
    disks = [rbd_disk(name, target=f"vd{c}") for name, c in zip(
        (full, partly, partial_object, empty), "abcd", strict=True
    )]  # fmt: skip

    usages = storage.measure_images(disks)

    assert [usage.path for usage in usages] == [full, partly, partial_object, empty]
    for usage in usages:
        du = rbd_du(ceph, usage.path)
        assert usage.format == "rbd"
        assert usage.virtual_bytes == du["provisioned_size"]
        assert usage.allocated_bytes == du["used_size"]
        assert usage.overcommit_bytes == du["provisioned_size"] - du["used_size"]
        assert usage.problem is None
    assert [usage.overcommit_bytes for usage in usages] == [
        0,
        10 * 2**30 - 12 * 2**20,
        2**30 - 4 * 2**20,
        2 * 2**30,
    ]


def test_only_this_pools_images_count_and_each_once(ceph, storage, image):
    name = image("1G")
    other_pool = rbd_disk("volumes/cinder-volume")
    snapshot = rbd_disk(f"{name}@snap")
    in_namespace = rbd_disk(f"{POOL}/tenant/disk")
    iscsi = DomainDisk("vm", "vdz", "network", "disk", "iqn.2026-01.org:disk/1", "raw", "iscsi")
    twice = [rbd_disk(name, "vm-1"), rbd_disk(name, "vm-2")]

    usages = storage.measure_images([other_pool, snapshot, in_namespace, iscsi, *twice])

    assert [(usage.domain, usage.path) for usage in usages] == [("vm-1", name)]


def test_a_clone_counts_only_its_own_objects(ceph, storage, image):
    parent = image("1G", "32M")
    ceph.rbd("snap", "create", f"{parent}@base")
    ceph.rbd("snap", "protect", f"{parent}@base")
    clone = f"{parent}-clone"
    ceph.rbd("clone", f"{parent}@base", clone)
    ceph.write(clone, "8M")  # copies up the objects it writes

    (usage,) = storage.measure_images([rbd_disk(clone)])

    assert usage.allocated_bytes == 8 * 2**20 == rbd_du(ceph, clone)["used_size"]
    assert usage.overcommit_bytes == 2**30 - 8 * 2**20


def test_an_image_without_fast_diff_counts_0_with_one_warning(ceph, storage, image, caplog):
    name = image("1G", "4M", "--image-feature", "layering")
    caplog.set_level(logging.DEBUG, "resource_tracker.virt")

    (usage,) = storage.measure_images([rbd_disk(name)])
    storage.measure_images([rbd_disk(name)])

    assert (usage.virtual_bytes, usage.overcommit_bytes) == (2**30, 0)
    assert "fast-diff" in usage.problem
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and name in warnings[0].getMessage()


def test_an_image_that_is_gone_is_skipped(ceph, storage, image, caplog):
    kept = image("1G")
    gone = f"{POOL}/never-created-{uuid.uuid4().hex[:6]}"

    usages = storage.measure_images([rbd_disk(gone, "vm-gone"), rbd_disk(kept)])

    assert [usage.path for usage in usages] == [kept]
    assert f"RBD image {gone} does not exist" in caplog.text


def test_a_missing_pool_or_user_is_one_clear_error(ceph):
    for storage, expected in (
        (RbdStorage("no-such-pool", str(ceph.conf), TRACKER_USER, TIMEOUT_S), "no-such-pool"),
        (RbdStorage(POOL, str(ceph.conf), "no-such-user", TIMEOUT_S), "client.no-such-user"),
    ):
        with pytest.raises(StorageUnavailable, match=expected) as raised:
            storage.measure()
        storage.close()
        assert "\n" not in str(raised.value)


def test_a_stopped_osd_costs_one_time_limit_not_a_hang(ceph, storage, image):
    name = image("1G", "4M")
    storage.measure()  # connected before the fault
    ceph.pause("osd.0")
    try:
        started = time.monotonic()
        with pytest.raises(StorageUnavailable, match=r"timed out|timeout"):
            storage.measure_images([rbd_disk(name), rbd_disk(image_name_after(name))])
        took = time.monotonic() - started
    finally:
        ceph.resume("osd.0")
    assert TIMEOUT_S - 0.5 < took < 2 * TIMEOUT_S + 1  # the first image's limit ends it
    assert wait_for(lambda: _measures(storage, name), 30)


def test_a_stopped_monitor_costs_one_time_limit_and_the_storage_recovers(ceph, image):
    storage = RbdStorage(POOL, str(ceph.conf), TRACKER_USER, TIMEOUT_S)
    ceph.pause("mon.a")
    try:
        started = time.monotonic()
        with pytest.raises(StorageUnavailable):
            storage.measure()  # connecting while the monitor is stopped
        took = time.monotonic() - started
    finally:
        ceph.resume("mon.a")
    assert took < 2 * TIMEOUT_S + 1
    assert wait_for(lambda: _measured(storage), 30)
    storage.close()


def image_name_after(name: str) -> str:
    return f"{name}-second"


def _measures(storage: RbdStorage, name: str) -> bool:
    try:
        return len(storage.measure_images([rbd_disk(name)])) == 1
    except StorageUnavailable:
        return False


def _measured(storage: RbdStorage) -> bool:
    try:
        return storage.measure().total_bytes > 0
    except StorageUnavailable:
        return False


def network_disk_xml(name: str, target: str, protocol: str = "rbd") -> str:
    return (
        f"<disk type='network' device='disk'><driver name='qemu' type='raw'/>"
        f"<source protocol='{protocol}' name='{name}'><host name='mon' port='6789'/></source>"
        f"<target dev='{target}' bus='virtio'/></disk>"
    )


def test_an_audit_of_a_host_on_rbd(ceph, image, tmp_path):
    # Nova's layout: instance disks in the pool, a Cinder volume in another, a config drive file
    disks = {name: image(size, written) for name, size, written in (
        ("a", "20G", "12M"), ("b", "10G", None), ("off", "40G", "4M"),
    )}  # fmt: skip
    config_drive = images.create(tmp_path / "disk.config", "raw", "64M")
    domains = [
        domain_xml("vm-a", [(config_drive, "raw")], virt_type="test").replace(
            "</devices>", network_disk_xml(disks["a"], "vdb") + "</devices>"
        ),
        domain_xml("vm-b", virt_type="test").replace(
            "<devices>",
            "<devices>"
            + network_disk_xml(disks["b"], "vda")
            + network_disk_xml("volumes/volume-1", "vdb"),
        ),
        domain_xml("vm-off", virt_type="test", extra=SHUT_OFF).replace(
            "<devices>", "<devices>" + network_disk_xml(disks["off"], "vda")
        ),
    ]
    storage = RbdStorage(POOL, str(ceph.conf), TRACKER_USER, TIMEOUT_S)
    driver = LibvirtDriver(LibvirtConnection(hosts.write(tmp_path, domains)), storage)
    try:
        resources = driver.get_host_resources()
    finally:
        driver.close()

    by_path = {usage.path: usage for usage in resources.disks}
    assert sorted(by_path) == sorted([config_drive, *disks.values()])
    for name in disks.values():
        du = rbd_du(ceph, name)
        assert by_path[name].overcommit_bytes == du["provisioned_size"] - du["used_size"]
    drive_overcommit = 64 * MiB - os.stat(config_drive).st_blocks * 512  # sparse: may grow
    assert by_path[config_drive].overcommit_bytes == drive_overcommit
    assert resources.disk_overcommit_bytes == (
        (20 * GiB - 12 * MiB) + 10 * GiB + (40 * GiB - 4 * MiB) + drive_overcommit
    )
    assert resources.storage.shared_id == f"rbd:{ceph.fsid}/{POOL}"


def test_two_hosts_on_one_pool_count_each_others_images(ceph, image, tmp_path, db_url):
    disks = {"compute-a": image("20G", "8M"), "compute-b": image("30G", "4M")}
    confs = {}
    for host, name in disks.items():
        domain = domain_xml(f"{host}-vm", virt_type="test").replace(
            "<devices>", "<devices>" + network_disk_xml(name, "vda")
        )
        state = tmp_path / host
        state.mkdir()
        confs[host] = tmp_path / f"{host}.conf"
        confs[host].write_text(
            f"[DEFAULT]\nhost = {host}\nstate_path = {state}\n"
            f"[libvirt]\nconnection_uri = {hosts.write(tmp_path, [domain], f'{host}.xml')}\n"
            f"images_type = rbd\nimages_rbd_pool = {POOL}\n"
            f"images_rbd_ceph_conf = {ceph.conf}\nrbd_user = {TRACKER_USER}\n"
            f"[database]\nconnection = {db_url}\n"
        )
    sync = run("resource-tracker-manage", "--config-file", str(confs["compute-a"]), "db", "sync")
    assert sync.returncode == 0, sync.stderr
    before = settled_df(ceph, 12 * MiB)

    audits = [
        run("resource-tracker", "--config-file", str(confs[host]), "--once")
        for host in ("compute-a", "compute-b", "compute-a")
    ]

    after = ceph.df()
    assert [a.returncode for a in audits] == [0, 0, 0], audits[-1].stderr
    total = sum(
        rbd_du(ceph, n)["provisioned_size"] - rbd_du(ceph, n)["used_size"] for n in disks.values()
    )
    listed = run(
        "resource-tracker-manage",
        "--config-file",
        str(confs["compute-a"]),
        "nodes",
        "list",
        "--format",
        "json",
    )
    rows = {entry["host"]: entry for entry in json.loads(listed.stdout)}
    frees = [pool_stats(df)["max_avail"] for df in (before, after)]
    for entry in rows.values():
        assert entry["storage_id"] == f"rbd:{ceph.fsid}/{POOL}"
        assert (
            (min(frees) - total) // GiB
            <= entry["disk_available_least"]
            <= (max(frees) - total) // GiB
        )
    assert rows["compute-b"]["disk_overcommit_bytes"] == 30 * GiB - 4 * MiB
    pool = pool_stats(after)
    assert rows["compute-a"]["local_gb"] == (pool["stored"] + pool["max_avail"]) // GiB
    least = rows["compute-a"]["disk_available_least"]
    assert f"disk_available_least {least} GiB" in audits[-1].stdout


def test_the_daemon_logs_a_ceph_outage_once_and_recovers(ceph, image, tmp_path, sqlite_url):
    name = image("10G", "4M")
    domain = domain_xml("vm", virt_type="test").replace(
        "<devices>", "<devices>" + network_disk_xml(name, "vda")
    )
    conf = tmp_path / "rt.conf"
    conf.write_text(
        f"[DEFAULT]\nhost = compute-1\nstate_path = {tmp_path}\nperiodic_fuzzy_delay = 0\n"
        "update_resources_interval = 2\n"  # above the 1 s limit: no audit outlasts it
        f"[libvirt]\nconnection_uri = {hosts.write(tmp_path, [domain])}\nimages_type = rbd\n"
        f"images_rbd_pool = {POOL}\nimages_rbd_ceph_conf = {ceph.conf}\n"
        f"rbd_user = {TRACKER_USER}\nrbd_connect_timeout = 1\n"
        f"[database]\nconnection = {sqlite_url}\n"
    )
    assert run("resource-tracker-manage", "--config-file", str(conf), "db", "sync").returncode == 0
    daemon = Daemon(str(conf))
    try:
        assert daemon.wait_for_log(r"INFO .*audit: compute-1"), daemon.log
        ceph.pause("mon.a")
        try:
            assert daemon.wait_for_log(r"WARNING .*audit failed: Ceph pool", timeout_s=30)
            time.sleep(7)  # more audits fail meanwhile (retried after 2, 4 s)
        finally:
            ceph.resume("mon.a")
        assert daemon.wait_for_log(r"audit succeeded after \d+ failed attempt", timeout_s=60)
        assert daemon.process.poll() is None
    finally:
        daemon.stop()
    warnings = [line for line in daemon.lines if "WARNING" in line and "audit failed" in line]
    assert len(warnings) == 1, daemon.log  # one for the whole outage
    assert "reading the pool's usage failed" in warnings[0]
    (recovered,) = [line for line in daemon.lines if "audit succeeded after" in line]
    assert int(recovered.split("after ")[1].split()[0]) >= 2, daemon.log


def corrupt_header(ceph, name: str) -> None:
    """Make the image's header undecodable, as a damaged object would be: opening it is EIO."""
    import rados

    info = json.loads(ceph.rbd("info", "--format", "json", name))
    with ceph.admin.open_ioctx(POOL) as ioctx, rados.WriteOpCtx() as operation:
        ioctx.set_omap(operation, ("features",), (b"garbage",))
        ioctx.operate_write_op(operation, f"rbd_header.{info['id']}")


def test_an_image_that_fails_to_open_is_never_counted_optimistically(ceph, storage, image, caplog):
    known = image("10G", "8M")
    (before,) = storage.measure_images([rbd_disk(known)])
    corrupt_header(ceph, known)
    never_read = image("5G")
    corrupt_header(ceph, never_read)
    caplog.set_level(logging.DEBUG, "resource_tracker.virt")

    audits = [storage.measure_images([rbd_disk(known), rbd_disk(never_read)]) for _ in range(2)]

    for kept, unknown in audits:
        # the image read before keeps what it counted; the other cannot say its size: 0
        assert kept.overcommit_bytes == before.overcommit_bytes == 10 * GiB - 8 * MiB
        assert "I/O error" in kept.problem
        assert unknown.overcommit_bytes == 0 and "I/O error" in unknown.problem
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2  # once per image, not once per audit
    assert any("counting its last known over-commit" in w for w in warnings)
