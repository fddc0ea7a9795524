"""The two commands as a user runs them: real processes, real files, exit codes and output."""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
import subprocess

import pytest
from sqlalchemy import inspect

from resource_tracker.db import schema
from resource_tracker.db.api import Database
from tests.support import images
from tests.support.mariadb import free_port
from tests.support.paths import BIN


def run(command: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [os.path.join(BIN, command), *args], capture_output=True, text=True, timeout=60
    )


def assert_one_line_error(result, *fragments: str) -> None:
    assert result.returncode != 0
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr


def test_once_prints_one_summary_line(config, db_url):
    conf = config(database=db_url)
    assert run("resource-tracker-manage", "--config-file", conf, "db", "sync").returncode == 0

    result = run("resource-tracker", "--config-file", conf, "--once")

    assert result.returncode == 0, result.stderr
    assert re.fullmatch(
        r"compute-1: vCPUs 15/12 used, free RAM 16896 MiB, disk_available_least -?\d+ GiB, "
        r"4 VMs \(3 running\), audit \d+\.\d ms, row updated\n",
        result.stdout,
    ), result.stdout


def test_once_with_unreachable_libvirt(config):
    conf = config(uri="qemu+unix:///system?socket=/nonexistent/libvirt-sock")
    run("resource-tracker-manage", "--config-file", conf, "db", "sync")

    result = run("resource-tracker", "--config-file", conf, "--once")

    assert_one_line_error(result, "resource-tracker: cannot connect to libvirt at qemu+unix")


def test_once_with_unreachable_database_hides_the_password(config):
    conf = config(database=f"mysql+pymysql://tracker:s3cret@127.0.0.1:{free_port()}/rt")

    result = run("resource-tracker", "--config-file", conf, "--once")

    assert_one_line_error(result, "tracker:***@127.0.0.1", "Can't connect")
    assert "s3cret" not in result.stderr


def test_first_once_on_the_embedded_database_creates_its_schema(config, tmp_path):
    conf = config(
        database=f"sqlite:///{tmp_path}/new/resource_tracker.sqlite", extra="debug = true"
    )

    result = run("resource-tracker", "--config-file", conf, "--once")
    version = run("resource-tracker-manage", "--config-file", conf, "db", "version")

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("compute-1: vCPUs 15/12 used")
    (created,) = [line for line in result.stderr.splitlines() if "created the schema" in line]
    assert f"(revision {schema.head()}) in the new database sqlite:///{tmp_path}/new/" in created
    assert "alembic" not in result.stderr  # one line for all the migrations
    assert version.stdout.split() == [schema.head()]


def table_names(url: str) -> list[str]:
    with Database(url) as database:
        return inspect(database.engine).get_table_names()


def test_once_leaves_a_database_with_tables_of_its_own_alone(config, sqlite_url):
    with contextlib.closing(sqlite3.connect(sqlite_url.removeprefix("sqlite:///"))) as other:
        other.execute("CREATE TABLE invoices (id INTEGER)")

    result = run("resource-tracker", "--config-file", config(database=sqlite_url), "--once")

    assert_one_line_error(
        result, "has no resource-tracker schema", "run: resource-tracker-manage db sync"
    )
    assert set(table_names(sqlite_url)) == {"invoices"}


@pytest.mark.mysql
def test_once_on_an_empty_server_database_says_what_to_run(config, mysql_url):
    result = run("resource-tracker", "--config-file", config(database=mysql_url), "--once")

    assert_one_line_error(result, "run: resource-tracker-manage db sync")
    assert table_names(mysql_url) == []


def test_dry_run_on_an_empty_database_writes_nothing(config, sqlite_url):
    conf = config(database=sqlite_url)

    result = run("resource-tracker", "--config-file", conf, "--once", "--dry-run")

    assert_one_line_error(result, "run: resource-tracker-manage db sync")
    assert table_names(sqlite_url) == []


def test_bad_config_names_the_option(config):
    result = run(
        "resource-tracker", "--config-file", config(extra="cpu_allocation_ratio = lots"), "--once"
    )

    assert_one_line_error(result, "[DEFAULT] cpu_allocation_ratio", "'lots'")
    assert result.returncode == 2


@pytest.fixture
def populated(config, db_url):
    conf = config(database=db_url)
    run("resource-tracker-manage", "--config-file", conf, "db", "sync")
    assert run("resource-tracker", "--config-file", conf, "--once").returncode == 0
    return conf


def test_nodes_list_table_and_json(populated):
    table = run("resource-tracker-manage", "--config-file", populated, "nodes", "list")
    as_json = run(
        "resource-tracker-manage", "--config-file", populated, "nodes", "list", "--format", "json"
    )

    header, row = table.stdout.splitlines()
    assert header.split()[:3] == ["HOST", "HYPERVISOR", "VCPUS"]
    assert row.split()[0] == "compute-1" and "15/12" in row.split()
    (node,) = json.loads(as_json.stdout)
    assert (node["host"], node["vcpus_used"], node["memory_mb"]) == ("compute-1", 15, 32768)


def test_nodes_show_every_column(populated, mixed_host):
    result = run(
        "resource-tracker-manage", "--config-file", populated, "nodes", "show", "compute-1"
    )
    as_json = run(
        "resource-tracker-manage", "--config-file", populated, "nodes", "show", "--format", "json"
    )

    assert result.returncode == 0
    (node,) = json.loads(as_json.stdout)  # without HOST: this host's [DEFAULT] host
    for column, value in node.items():
        if column not in (
            "cpu_info",
            "numa_topology",
            "pci_stats",
            "mdev_capacity",
            "last_audit",
            "heartbeat_age_s",
        ):
            shown = "-" if value is None else str(value)
            if isinstance(value, (dict, list)):  # JSON columns: parsed in JSON, compact here
                shown = json.dumps(value, sort_keys=True)
            assert re.search(rf"^{column}\s+{re.escape(shown)}$", result.stdout, re.M), column
    # a test-driver host file has no NUMA cells (an empty <topology>, whatever getInfo's
    # <nodes>2</nodes>): 0 cells and no numa_topology, as Nova's driver writes them then
    assert node["cpu_info"]["topology"] == {"cells": 0, "cores": 3, "sockets": 1, "threads": 2}
    assert node["numa_topology"] is None and "NUMA cells: none reported" in result.stdout
    assert node["stats"] == {
        "io_workload": 1,
        "num_instances": 4,
        "num_vm_active": 3,
        "num_vm_stopped": 1,
    }
    assert node["supported_instances"] == [["i686", "test", "hvm"], ["i686", "test", "xen"]]
    assert "pci_stats: 0 pool(s), 0 free device(s)" in result.stdout  # no device offered
    assert node["pci_stats"]["nova_object.data"] == {"objects": []} and node["mdev_capacity"] == []
    # the breakdown this host's daemon recorded, disk by disk
    recorded = {disk["path"]: disk for disk in node["last_audit"]["disks"]}
    assert set(recorded) == set(mixed_host.disk_paths)
    for path, disk in recorded.items():
        assert disk["overcommit_bytes"] == images.expected_overcommit(path)
    assert re.search(
        r"^shut-off-c\s+vda\s+qcow2\s+30\.0\s+0\.0\s+30\.0\s+…?\S*c-overlay", result.stdout, re.M
    )


def test_nodes_show_unknown_host(populated):
    result = run("resource-tracker-manage", "--config-file", populated, "nodes", "show", "nope")

    assert_one_line_error(result, "no compute node for host nope")


def _stored(db_url: str):
    database = Database(db_url)
    try:
        nodes = [(node.free_ram_mb, node.updated_at) for node in database.compute_nodes()]
        services = [(service.report_count, service.updated_at) for service in database.services()]
    finally:
        database.dispose()
    return nodes, services


def test_once_always_writes_its_heartbeat(config, db_url):
    """Within report_interval and unchanged, the daemon's audit would send nothing;
    --once's always commits its heartbeat."""
    conf = config(database=db_url, extra="report_interval = 3600\n")
    run("resource-tracker-manage", "--config-file", conf, "db", "sync")

    for _ in range(2):
        assert run("resource-tracker", "--config-file", conf, "--once").returncode == 0

    _, services = _stored(db_url)
    assert [count for count, _ in services] == [2]


def test_dry_run_prints_the_difference_and_writes_nothing(config, db_url, tmp_path):
    run("resource-tracker-manage", "--config-file", config(database=db_url), "db", "sync")
    run("resource-tracker", "--config-file", config(database=db_url), "--once")
    before = _stored(db_url)
    recorded = (tmp_path / "last-audit.json").stat().st_mtime_ns
    conf = config(database=db_url, extra="reserved_host_memory_mb = 1536")

    result = run("resource-tracker", "--config-file", conf, "--once", "--dry-run")

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"compute-1 ({os.uname().nodename}): would update 3 column(s):"
    assert sorted(line.split() for line in lines[1:4]) == [
        ["free_ram_mb", "16896", "->", "15872"],
        ["memory_mb_used", "15872", "->", "16896"],  # the reserve is in it, as in Nova
        ["reserved_host_memory_mb", "512", "->", "1536"],
    ]
    assert lines[-1] == "dry run: nothing was written"
    assert _stored(db_url) == before  # no row change, no heartbeat
    assert (tmp_path / "last-audit.json").stat().st_mtime_ns == recorded


def test_dry_run_on_an_empty_table_would_create_the_row(config, db_url):
    conf = config(database=db_url)
    run("resource-tracker-manage", "--config-file", conf, "db", "sync")

    result = run("resource-tracker", "--config-file", conf, "--once", "--dry-run")

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"compute-1 ({os.uname().nodename}): would create the row:")
    assert re.search(r"^  vcpus_used\s+15$", result.stdout, re.M)
    assert _stored(db_url) == ([], [])


def test_dry_run_needs_once(config):
    result = run("resource-tracker", "--config-file", config(), "--dry-run")

    assert_one_line_error(result, "--dry-run goes with --once")
    assert result.returncode == 2


@pytest.mark.parametrize("kind", ["regular-file", "missing"])
@pytest.mark.parametrize("once", [True, False])
def test_an_instances_path_that_is_no_directory_stops_start_up(config, tmp_path, kind, once):
    """statvfs of a regular file measures whatever file system it is on: refused at once."""
    conf = config()
    wrong = tmp_path / kind
    if kind == "regular-file":
        wrong.write_text("")
    with open(conf) as original:
        text = re.sub(r"instances_path = .*", f"instances_path = {wrong}", original.read())
    with open(conf, "w") as changed:
        changed.write(text)
    run("resource-tracker-manage", "--config-file", conf, "db", "sync")

    result = run("resource-tracker", "--config-file", conf, *(["--once"] if once else []))

    assert_one_line_error(result, f"resource-tracker: [DEFAULT] instances_path = {wrong}: ")
    assert result.returncode == 2
    reason = "Not a directory" if kind == "regular-file" else "No such file or directory"
    assert result.stderr.rstrip().endswith(
        f"{reason}; set [DEFAULT] instances_path to the directory holding this host's instance "
        "disks (nova-compute's: /var/lib/nova/instances; libvirt's default pool: "
        "/var/lib/libvirt/images)"
    )
