"""resource-tracker-manage's housekeeping and capacity, on SQLite and MariaDB, with hosts up,
down and deleted, two of them on one shared storage."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import text

from resource_tracker.audit.tracker import SharedStorage
from tests.functional.db.test_pci_devices import PF, VF
from tests.functional.test_manage import manage
from tests.support.nodes import node

NFS = "nfs:fs1:/nova"
GiB = 2**30
DOWN_SINCE_S = 3600


def shared_node(database, host: str, least: int, overcommit_gib: int) -> None:
    values = node(hypervisor_hostname=host, storage_id=NFS, disk_overcommit_bytes=overcommit_gib)
    free = (least + overcommit_gib) * GiB
    database.reconcile_compute_nodes(host, [values], SharedStorage(NFS, free, overcommit_gib))


def age(database, table: str, column: str, seconds: int, where: str) -> None:
    """Move `column` of the rows matching `where` `seconds` into the past."""
    past = (
        f"DATE_SUB({column}, INTERVAL {seconds} SECOND)"
        if database.engine.dialect.name in ("mysql", "mariadb")
        else f"datetime({column}, '-{seconds} seconds')"
    )
    with database.engine.begin() as connection:
        connection.execute(text(f"UPDATE {table} SET {column} = {past} WHERE {where}"))


@pytest.fixture
def fleet(database, db_url, tmp_path):
    """nfs-1 and nfs-2 share one storage (up); compute-up has its own disk; compute-down's
    tracker stopped an hour ago; compute-gone's node was replaced (old-hv deleted)."""
    shared_node(database, "nfs-1", least=300, overcommit_gib=0)
    shared_node(database, "nfs-2", least=100, overcommit_gib=0)  # the share filled since
    database.reconcile_compute_nodes("compute-up", [node(hypervisor_hostname="up-hv")])
    database.reconcile_compute_nodes("compute-down", [node(hypervisor_hostname="down-hv")])
    database.reconcile_compute_nodes("compute-gone", [node(hypervisor_hostname="old-hv")])
    database.reconcile_compute_nodes("compute-gone", [node(hypervisor_hostname="new-hv")])
    age(database, "services", "updated_at", DOWN_SINCE_S, "host = 'compute-down'")
    conf = tmp_path / "manage.conf"
    conf.write_text(
        f"[DEFAULT]\nhost = compute-up\nstate_path = {tmp_path}\nservice_down_time = 600\n"
        f"[database]\nconnection = {db_url}\n"
    )
    return str(conf)


def live(database) -> set[str]:
    return {n.hypervisor_hostname for n in database.compute_nodes()}


def test_a_host_whose_tracker_reports_is_not_deleted_without_force(fleet, database):
    refused = manage(fleet, "nodes", "delete", "compute-up")
    forced = manage(fleet, "nodes", "delete", "compute-up", "--force")

    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.count("\n") == 1
    assert "refusing to delete compute-up's compute nodes: its tracker reported" in refused.stderr
    assert "--force" in refused.stderr
    assert forced.returncode == 0, forced.stderr
    assert forced.stdout == "compute-up: 1 compute node(s) marked deleted\n"
    assert "up-hv" not in live(database)


def test_a_silent_host_is_deleted_and_comes_back_as_itself(fleet, database):
    (before,) = database.compute_nodes("compute-down")

    result = manage(fleet, "nodes", "delete", "compute-down")

    assert result.returncode == 0, result.stderr
    assert "down-hv" not in live(database)
    listed = json.loads(manage(fleet, "nodes", "list", "--all", "--format", "json").stdout)
    assert {e["hypervisor_hostname"]: e["state"] for e in listed}["down-hv"] == "deleted"
    # its tracker starting again revives the row with its id and uuid
    database.reconcile_compute_nodes("compute-down", [node(hypervisor_hostname="down-hv")])
    (after,) = database.compute_nodes("compute-down")
    assert (after.id, after.uuid) == (before.id, before.uuid)


def test_deleting_an_unknown_host_is_one_line(fleet):
    result = manage(fleet, "nodes", "delete", "no-such-host")

    assert result.returncode == 1
    assert result.stderr.endswith("no live compute node for host no-such-host\n")


def test_services_delete_retires_the_tracker_and_its_nodes(fleet, database):
    refused = manage(fleet, "services", "delete", "nfs-1")
    result = manage(fleet, "services", "delete", "compute-down")

    assert refused.returncode == 1 and "refusing to delete nfs-1's tracker" in refused.stderr
    assert result.returncode == 0, result.stderr
    assert "1 service row(s), 1 compute node(s)" in result.stdout
    hosts = [
        e["host"] for e in json.loads(manage(fleet, "services", "list", "--format", "json").stdout)
    ]
    assert "compute-down" not in hosts and "nfs-1" in hosts
    assert "down-hv" not in live(database)


def test_purge_is_a_dry_run_until_told_and_keeps_what_is_recent(fleet, database):
    assert manage(fleet, "services", "delete", "compute-down").returncode == 0
    # old-hv was deleted two days ago; compute-down's rows just now
    age(database, "compute_nodes", "deleted_at", 2 * 86400, "hypervisor_hostname = 'old-hv'")
    cutoff = (database.now() - timedelta(hours=1)).replace(microsecond=0).isoformat()
    age(database, "services", "deleted_at", 2 * 86400, "host = 'compute-down'")

    dry = manage(fleet, "db", "purge", "--before", cutoff)
    rows_after_dry = _count_rows(database)
    real = manage(fleet, "db", "purge", "--before", cutoff, "--yes")

    assert dry.returncode == 0, dry.stderr
    # compute-down's service row is old enough, but its node (deleted now) still points at it
    assert dry.stdout.startswith("would remove 1 compute_nodes row(s) and 0 services row(s)")
    assert "--yes" in dry.stdout
    assert real.stdout.startswith("removed 1 compute_nodes row(s) and 0 services row(s)")
    assert rows_after_dry == (6, 5)
    assert _count_rows(database) == (5, 5)
    names = {n.hypervisor_hostname for n in database.compute_nodes(include_deleted=True)}
    assert "old-hv" not in names and "down-hv" in names

    age(database, "compute_nodes", "deleted_at", 2 * 86400, "hypervisor_hostname = 'down-hv'")
    assert manage(fleet, "db", "purge", "--before", cutoff, "--yes").stdout.startswith(
        "removed 1 compute_nodes row(s) and 1 services row(s)"
    )
    assert _count_rows(database) == (4, 4)


def test_purge_takes_the_devices_of_the_nodes_it_removes(fleet, database):
    database.reconcile_compute_nodes("compute-dev", [node(hypervisor_hostname="dev-hv")])
    database.reconcile_compute_nodes(
        "compute-dev", [node(hypervisor_hostname="dev-hv")], devices={"dev-hv": [VF, PF]}
    )
    up = [node(hypervisor_hostname="up-hv")]
    database.reconcile_compute_nodes("compute-up", up, devices={"up-hv": [VF, PF]})
    database.reconcile_compute_nodes("compute-up", up, devices={"up-hv": [VF]})  # PF gone now
    database.reconcile_compute_nodes("compute-dev", [])  # dev-hv retired, its rows still live
    age(database, "compute_nodes", "deleted_at", 2 * 86400, "deleted != 0")
    cutoff = (database.now() - timedelta(hours=1)).replace(microsecond=0).isoformat()

    dry = manage(fleet, "db", "purge", "--before", cutoff)
    first = manage(fleet, "db", "purge", "--before", cutoff, "--yes")  # a foreign key each
    after_first = _count_devices(database)
    age(database, "pci_devices", "deleted_at", 2 * 86400, "deleted != 0")
    second = manage(fleet, "db", "purge", "--before", cutoff, "--yes")

    assert dry.returncode == 0, dry.stderr
    assert "2 compute_nodes row(s)" in dry.stdout  # old-hv and dev-hv
    assert "and 2 pci_devices row(s) of those nodes or deleted before then" in dry.stdout
    assert first.returncode == 0, first.stderr
    assert after_first == [("up-hv", 0), ("up-hv", 1)]  # up-hv's PF went just now: kept
    assert second.returncode == 0, second.stderr
    assert "0 compute_nodes row(s)" in second.stdout and "1 pci_devices row(s)" in second.stdout
    assert _count_devices(database) == [("up-hv", 0)]


def _count_devices(database) -> list[tuple[str, int]]:
    """(node, deleted) of every pci_devices row, live first."""
    with database.engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT n.hypervisor_hostname, d.deleted != 0 FROM pci_devices d "
                "JOIN compute_nodes n ON n.id = d.compute_node_id ORDER BY 1, 2"
            )
        )
        return [(name, int(deleted)) for name, deleted in rows]


def test_purge_wants_a_date(fleet):
    result = manage(fleet, "db", "purge", "--before", "last tuesday")

    assert result.returncode == 2
    assert "--before" in result.stderr


def _count_rows(database) -> tuple[int, int]:
    with database.engine.connect() as connection:
        return tuple(
            connection.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar()
            for table in ("compute_nodes", "services")
        )


def test_capacity_per_host_and_fleet_counts_the_shared_disk_once(fleet):
    result = manage(fleet, "capacity", "--vcpus", "4", "--ram", "8G", "--disk", "40G")
    as_json = manage(
        fleet, "capacity", "--vcpus", "4", "--ram", "8192", "--disk", "40", "--format", "json"
    )

    assert result.returncode == 0, result.stderr
    report = json.loads(as_json.stdout)
    hosts = {entry["hypervisor_hostname"]: entry for entry in report["hosts"]}
    assert set(hosts) == {"nfs-1", "nfs-2", "up-hv", "down-hv", "new-hv"}  # old-hv is deleted
    # tests/support/nodes.py: 64 CPUs x 4 - 20 used: 59; (262143 - 512) MB x 1.5 - 40960 used
    # (its free_ram_mb leaves out 512 more): 42; disk_available_least + 999 GB x 0.1 (1.1): 18
    up = hosts["up-hv"]
    assert (up["by_disk"], up["fits"], up["limited_by"]) == (18, 18, "disk (DISK_GB)")
    assert hosts["down-hv"]["fits"] == 0 and hosts["down-hv"]["state"] == "down"
    assert (hosts["nfs-1"]["by_disk"], hosts["nfs-2"]["by_disk"]) == (9, 4)
    assert hosts["nfs-1"]["shared_storage"] and not up["shared_storage"]
    # up-hv 18 + new-hv 18 + the share once: min(42 + 42, the least room of its hosts 4)
    assert report["fleet"] == 18 + 18 + 4
    assert report["flavor"] == {"vcpus": 4, "ram_mb": 8192, "disk_gb": 40}
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["HOST", "STATE", "FITS", "BY_DISK", "LIMITED_BY"]
    assert lines[-1].startswith("fleet: 40 more VMs of 4 vCPUs, 8192 MiB RAM, 40 GiB disk")
    legend = result.stderr.splitlines()[-1]
    assert "shared storage" in legend and "disk_available_least" in legend


def test_capacity_refuses_a_size_it_cannot_read(fleet):
    result = manage(fleet, "capacity", "--vcpus", "4", "--ram", "lots")

    assert result.returncode == 2
    assert "--ram" in result.stderr


def test_nodes_list_and_storage_list_mark_the_shared_storage(fleet):
    listed = manage(fleet, "nodes", "list")
    nodes = listed.stdout.splitlines()
    storages = manage(fleet, "storage", "list", "--format", "json")

    marked = {line.split()[0]: line.split()[4].endswith("*") for line in nodes[1:]}
    assert marked == {
        "compute-down": False,
        "compute-gone": False,
        "compute-up": False,
        "nfs-1": True,
        "nfs-2": True,
    }
    assert listed.stderr.splitlines()[-1].startswith("* shared storage")
    pools = {pool["storage_id"]: pool for pool in json.loads(storages.stdout)}
    assert pools[NFS]["hosts"] == 2 and pools[NFS]["shared"]
    assert pools[NFS]["disk_available_least"] == 100
    assert pools["local:compute-up"]["hosts"] == 1 and not pools["local:compute-up"]["shared"]
    assert len(pools) == 4
