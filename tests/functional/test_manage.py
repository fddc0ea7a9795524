"""resource-tracker-manage as operators run it, on SQLite and MariaDB: a fleet with a host
that is up, one whose tracker stopped reporting, and one whose node was deleted."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from sqlalchemy import text

from tests.support.nodes import node
from tests.support.paths import BIN

DOWN_SINCE_S = 3600


def manage(conf: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [os.path.join(BIN, "resource-tracker-manage"), "--config-file", conf, *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def fleet(database, db_url, tmp_path):
    """compute-up reports now; compute-down last reported an hour ago; compute-gone's node
    'old-hv' was replaced by 'new-hv', so 'old-hv' is soft-deleted."""
    database.reconcile_compute_nodes("compute-up", [node(hypervisor_hostname="up-hv")])
    database.reconcile_compute_nodes("compute-down", [node(hypervisor_hostname="down-hv")])
    database.reconcile_compute_nodes("compute-gone", [node(hypervisor_hostname="old-hv")])
    database.reconcile_compute_nodes("compute-gone", [node(hypervisor_hostname="new-hv")])
    age = (
        f"DATE_SUB(updated_at, INTERVAL {DOWN_SINCE_S} SECOND)"
        if database.engine.dialect.name in ("mysql", "mariadb")
        else f"datetime(updated_at, '-{DOWN_SINCE_S} seconds')"
    )
    with database.engine.begin() as connection:
        connection.execute(
            text(f"UPDATE services SET updated_at = {age} WHERE host = 'compute-down'")
        )
    conf = tmp_path / "manage.conf"
    conf.write_text(
        f"[DEFAULT]\nhost = compute-up\nstate_path = {tmp_path}\nservice_down_time = 600\n"
        f"[database]\nconnection = {db_url}\n"
    )
    return str(conf)


def test_nodes_list_table(fleet):
    result = manage(fleet, "nodes", "list")

    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == [
        "HOST",
        "HYPERVISOR",
        "VCPUS",
        "RAM",
        "DISK",
        "LEAST",
        "VMS",
        "SEEN",
        "STATE",
    ]
    states = {row.split()[0]: (row.split()[1], row.split()[-2], row.split()[-1]) for row in rows}
    assert states["compute-up"][0] == "up-hv" and states["compute-up"][2] == "up"
    assert states["compute-down"][1:] == ("1h", "down")
    assert states["compute-gone"][0] == "new-hv"  # the deleted node is not listed
    assert len(rows) == 3
    assert "20/64" in rows[0].split() and "215.5/256" in rows[0].split()
    # the legend is for the reader, not for what reads stdout
    assert result.stderr == (
        "RAM free/total GiB; DISK free_disk_gb and LEAST disk_available_least, GiB; "
        "SEEN since the last heartbeat\n"
    )


def test_nodes_list_all_shows_deleted_rows(fleet):
    result = manage(fleet, "nodes", "list", "--all")

    gone = [row.split() for row in result.stdout.splitlines() if row.startswith("compute-gone")]
    assert sorted((row[1], row[-1]) for row in gone) == [("new-hv", "up"), ("old-hv", "deleted")]


def test_nodes_list_json(fleet):
    result = manage(fleet, "nodes", "list", "--format", "json", "--all")

    nodes = {
        (entry["host"], entry["hypervisor_hostname"]): entry for entry in json.loads(result.stdout)
    }
    assert nodes[("compute-up", "up-hv")]["state"] == "up"
    assert nodes[("compute-down", "down-hv")]["state"] == "down"
    assert nodes[("compute-down", "down-hv")]["heartbeat_age_s"] >= DOWN_SINCE_S
    assert nodes[("compute-gone", "old-hv")]["state"] == "deleted"
    assert nodes[("compute-gone", "old-hv")]["deleted"] != 0
    assert nodes[("compute-up", "up-hv")]["cpu_info"] == {"arch": "x86_64"}
    assert nodes[("compute-up", "up-hv")]["free_ram_mb"] == node().free_ram_mb


def test_nodes_show_every_column_of_another_host(fleet):
    result = manage(fleet, "nodes", "show", "compute-down")
    as_json = json.loads(manage(fleet, "nodes", "show", "compute-down", "--format", "json").stdout)

    (entry,) = as_json
    assert entry["state"] == "down" and entry["last_audit"] is None
    for column in ("vcpus", "memory_mb", "disk_available_least", "uuid", "free_ram_mb"):
        assert f"\n{column} " in result.stdout and str(entry[column]) in result.stdout
    assert '  "arch": "x86_64"' in result.stdout  # cpu_info, pretty
    assert "disks: no breakdown recorded on this machine" in result.stdout


def test_nodes_show_a_host_whose_rows_are_all_deleted(fleet, database):
    database.reconcile_compute_nodes("compute-gone", [])

    (entry,) = json.loads(
        manage(fleet, "nodes", "show", "compute-gone", "--format", "json").stdout
    )

    assert entry["state"] == "deleted" and entry["hypervisor_hostname"] == "new-hv"


def test_nodes_show_unknown_host_fails_with_one_line(fleet):
    result = manage(fleet, "nodes", "show", "compute-nope")

    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == "resource-tracker-manage: no compute node for host compute-nope\n"


def test_services_list(fleet):
    table = manage(fleet, "services", "list")
    as_json = json.loads(manage(fleet, "services", "list", "--format", "json").stdout)

    rows = {row.split()[0]: row.split() for row in table.stdout.splitlines()[1:]}
    assert rows["compute-up"][1:] == ["resource-tracker", "1", rows["compute-up"][3], "up", "no"]
    assert rows["compute-down"][3:5] == ["1h", "down"]
    assert rows["compute-gone"][2] == "2"  # two audits reported
    services = {entry["host"]: entry for entry in as_json}
    assert services["compute-down"]["state"] == "down"
    assert services["compute-up"]["report_count"] == 1
