"""Three trackers with different host names on one instances_path, as hosts mounting one
share see it, with real qcow2 disks: one storage, every row's disk_available_least counting
all their thin disks, the storage counted once; a marker copied to another file system does
not join it. On SQLite and MariaDB.

The share here is a local directory named by `resource-tracker-manage storage init` (the
marker route): this machine's kernel has no NFS client, so the mountinfo route is covered by
tests/unit/virt/test_shared.py with a mountinfo file."""

from __future__ import annotations

import json
import os
import shutil
import tempfile

import pytest

from tests.functional.test_cli import run
from tests.support import hosts, images
from tests.support.libvirtd import domain_xml

GiB = 2**30
DISKS = {"compute-a": ("a-1", "a-2"), "compute-b": ("b-1",), "compute-c": ("c-1",)}


@pytest.fixture
def share(tmp_path):
    """The shared instances directory with a 200 to 500 GiB thin qcow2 per disk."""
    path = tmp_path / "share"
    for index, name in enumerate(sorted(n for names in DISKS.values() for n in names)):
        images.create(path / f"{name}.qcow2", "qcow2", f"{200 + 100 * index}G")
        images.write(path / f"{name}.qcow2", "0", f"{index + 1}M")
    return path


def configure(tmp_path, host: str, instances, db_url, disks) -> str:
    domains = [
        domain_xml(
            f"{host}-vm-{i}", [(os.path.join(instances, f"{d}.qcow2"), "qcow2")], virt_type="test"
        )
        for i, d in enumerate(disks)
    ]
    uri = hosts.write(tmp_path, domains, name=f"{host}.xml")
    state = tmp_path / host
    state.mkdir()
    conf = tmp_path / f"{host}.conf"
    conf.write_text(
        f"[DEFAULT]\nhost = {host}\nstate_path = {state}\ninstances_path = {instances}\n"
        f"[libvirt]\nconnection_uri = {uri}\n[database]\nconnection = {db_url}\n"
    )
    return str(conf)


def overcommit(path) -> int:
    return images.info(path, "qcow2")["virtual-size"] - images.allocated(path)


def manage(conf: str, *args: str):
    return run("resource-tracker-manage", "--config-file", conf, *args)


def test_trackers_on_one_share_count_each_others_disks_and_the_share_once(tmp_path, share, db_url):
    confs = {host: configure(tmp_path, host, share, db_url, d) for host, d in DISKS.items()}
    any_conf = confs["compute-a"]
    assert manage(any_conf, "db", "sync").returncode == 0
    init = manage(any_conf, "storage", "init")
    assert init.returncode == 0, init.stderr
    storage_id = init.stdout.split("storage id ")[1].split(";")[0]

    frees = []
    for host in ("compute-a", "compute-b", "compute-c", "compute-a", "compute-b"):
        frees.append(os.statvfs(share).f_bavail * os.statvfs(share).f_frsize)
        audit = run("resource-tracker", "--config-file", confs[host], "--once")
        assert audit.returncode == 0, audit.stderr
        frees.append(os.statvfs(share).f_bavail * os.statvfs(share).f_frsize)

    total = sum(overcommit(path) for path in share.glob("*.qcow2"))
    nodes = json.loads(manage(any_conf, "nodes", "list", "--format", "json").stdout)
    assert {n["host"]: n["storage_id"] for n in nodes} == dict.fromkeys(DISKS, storage_id)
    for entry in nodes:
        own = sum(overcommit(share / f"{d}.qcow2") for d in DISKS[entry["host"]])
        assert entry["disk_overcommit_bytes"] == own
        # free on the share at its audit (bracketed: other work writes to this disk too)
        assert (min(frees) - total) // GiB <= entry["disk_available_least"]
        assert entry["disk_available_least"] <= (max(frees) - total) // GiB
    assert total > 1000 * GiB  # far beyond what the disk has free: every row is negative
    pools = json.loads(manage(any_conf, "storage", "list", "--format", "json").stdout)
    (pool,) = pools
    statvfs = os.statvfs(share)
    assert (pool["storage_id"], pool["hosts"], pool["shared"]) == (storage_id, 3, True)
    assert pool["local_gb"] == statvfs.f_blocks * statvfs.f_frsize // GiB
    assert pool["disk_overcommit_bytes"] == total
    # on the host itself, nodes show explains the row's arithmetic with the others' disks
    shown = manage(confs["compute-a"], "nodes", "show").stdout
    others = total - sum(overcommit(share / f"{d}.qcow2") for d in DISKS["compute-a"])
    assert f"the other hosts' over-commit, {others / GiB:.1f} GiB" in shown


def test_a_marker_copied_to_another_file_system_does_not_join_the_share(tmp_path, share, db_url):
    conf_a = configure(tmp_path, "compute-a", share, db_url, DISKS["compute-a"])
    assert manage(conf_a, "db", "sync").returncode == 0
    assert manage(conf_a, "storage", "init").returncode == 0
    with tempfile.TemporaryDirectory(dir="/dev/shm") as elsewhere:  # tmpfs: another file system
        shutil.copy2(share / ".resource-tracker-storage", elsewhere)
        images.create(os.path.join(elsewhere, "d-1.qcow2"), "qcow2", "50G")
        conf_d = configure(tmp_path, "compute-d", elsewhere, db_url, ["d-1"])

        results = [run("resource-tracker", "--config-file", c, "--once") for c in (conf_a, conf_d)]
        shown = json.loads(manage(conf_d, "storage", "show", "--format", "json").stdout)

    assert [r.returncode for r in results] == [0, 0], results[1].stderr
    assert "was made on another file system" in results[1].stderr
    nodes = {
        n["host"]: n
        for n in json.loads(manage(conf_a, "nodes", "list", "--format", "json").stdout)
    }
    assert nodes["compute-d"]["storage_id"] == "local:compute-d"
    assert nodes["compute-a"]["storage_id"].startswith("marker:")
    assert (shown["shared"], shown["by"]) == (False, "local")
    assert "storage init --force" in shown["problem"]
    pools = json.loads(manage(conf_a, "storage", "list", "--format", "json").stdout)
    assert sorted(pool["hosts"] for pool in pools) == [1, 1]
