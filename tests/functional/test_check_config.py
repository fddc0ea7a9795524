"""`resource-tracker --check-config`: every start-up check that writes nothing, one line each
(a pass on stdout, a problem on stderr, naming the option or what to run), exit 2 on any
failure. Each check is made to fail alone on a config that otherwise passes.

The host is libvirt's test:///default: CPUs 0-15 online, two NUMA cells.
"""

from __future__ import annotations

import os

import pytest
from alembic import command

from resource_tracker.db import schema
from resource_tracker.db.api import Database
from tests.functional.test_cli import run
from tests.support.mariadb import free_port

CHECKS = 5  # the config file, instances_path, libvirt, the host's shape, the database


def write_config(tmp_path, database: str, uri="test:///default", compute="", extra="") -> str:
    instances = tmp_path / "instances"
    instances.mkdir(exist_ok=True)
    path = tmp_path / "resource-tracker.conf"
    path.write_text(
        f"[DEFAULT]\nhost = compute-1\nstate_path = {tmp_path}\n"
        f"instances_path = {instances}\n{extra}\n[compute]\n{compute}\n"
        f"[libvirt]\nconnection_uri = {uri}\n[database]\nconnection = {database}\n"
    )
    return str(path)


def synced(url: str, revision: str = "head") -> str:
    database = Database(url)
    with database.engine.begin() as connection:
        command.upgrade(schema.alembic_config(connection), revision)
    database.dispose()
    return url


def check(conf: str):
    return run("resource-tracker", "--config-file", conf, "--check-config")


def test_every_check_passes_on_a_ready_host(tmp_path, db_url):
    conf = write_config(tmp_path, synced(db_url))

    result = check(conf)

    assert (result.returncode, result.stderr) == (0, "")
    lines = result.stdout.splitlines()
    assert lines == [
        f"ok: config file {conf}",
        f"ok: [DEFAULT] instances_path = {tmp_path / 'instances'}",
        "ok: libvirt at test:///default",
        "ok: CPU sets and reserved huge pages fit the host",
        lines[4],
    ]
    assert lines[4].startswith("ok: database ") and lines[4].endswith(
        f" at schema revision {schema.head()}"
    )


def test_a_new_embedded_database_passes_and_is_not_created(tmp_path):
    """The daemon gives a new SQLite database its schema at start: not a problem, and the
    check writes nothing (not even an empty file)."""
    path = tmp_path / "state" / "resource_tracker.sqlite"
    conf = write_config(tmp_path, f"sqlite:///{path}")

    result = check(conf)

    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines()[-1].endswith(": new, the daemon creates its schema at start")
    assert not os.path.exists(path.parent)


FAILURES = {
    "instances-path-missing": (
        {"extra": "instances_path = /nonexistent/instances"},
        "resource-tracker: [DEFAULT] instances_path = /nonexistent/instances: No such file or "
        "directory; set [DEFAULT] instances_path to the directory holding this host's instance "
        "disks (nova-compute's: /var/lib/nova/instances; libvirt's default pool: "
        "/var/lib/libvirt/images)",
    ),
    "libvirt-unreachable": (
        {"uri": "qemu+unix:///system?socket=/nonexistent/libvirt-sock"},
        "resource-tracker: cannot connect to libvirt at qemu+unix:///system?socket=/nonexistent/"
        "libvirt-sock: Failed to connect socket to '/nonexistent/libvirt-sock'",
    ),
    "offline-cpu-in-cpu-dedicated-set": (
        {"compute": "cpu_dedicated_set = 8-19"},
        "resource-tracker: [compute] cpu_dedicated_set: CPUs 16-19 are offline or absent "
        "(online: 0-15)",
    ),
    "huge-pages-the-host-has-not": (
        {"extra": "reserved_huge_pages = node:2,size:2048,count:8"},
        "resource-tracker: [DEFAULT] reserved_huge_pages: NUMA cell 2 has no pages of 2048 KiB",
    ),
    "database-unreachable": (
        {"database": "mysql+pymysql://tracker:s3cret@127.0.0.1:{port}/rt"},
        "resource-tracker: database mysql+pymysql://tracker:***@127.0.0.1:{port}/rt: (2003, "
        "\"Can't connect to MySQL server",
    ),
    "schema-behind": (
        {"revision": "0006"},
        "is at schema revision 0006, this program needs {head}; run: resource-tracker-manage "
        "db sync",
    ),
}


@pytest.mark.parametrize("case", FAILURES)
def test_each_check_fails_alone_with_one_line(tmp_path, sqlite_url, case):
    overrides, expected = dict(FAILURES[case][0]), FAILURES[case][1]
    port = free_port()
    database = overrides.pop("database", sqlite_url).format(port=port)
    if database == sqlite_url:
        synced(sqlite_url, overrides.pop("revision", "head"))
    conf = write_config(tmp_path, database, **overrides)

    result = check(conf)

    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("resource-tracker: "), result.stderr
    assert expected.format(port=port, head=schema.head()) in result.stderr
    assert "Traceback" not in result.stderr and "s3cret" not in result.stderr
    passed = [line for line in result.stdout.splitlines() if line.startswith("ok: ")]
    skipped = [line for line in result.stdout.splitlines() if line.startswith("skipped: ")]
    # without libvirt the host's shape cannot be checked: said, not counted as a problem
    assert len(passed) + len(skipped) == CHECKS - 1, result.stdout
    assert len(skipped) == (1 if case == "libvirt-unreachable" else 0)


def test_a_config_file_the_daemon_refuses_is_the_one_line(tmp_path, sqlite_url):
    conf = write_config(tmp_path, synced(sqlite_url), extra="update_resources_interval = 0")

    result = check(conf)

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"resource-tracker: [DEFAULT] update_resources_interval: invalid value '0' in {conf}: "
        "must be from 1 to 86400\n"
    )


def test_a_missing_instances_path_stops_the_daemon_naming_the_fix(tmp_path, sqlite_url):
    """The daemon never creates instances_path (it only reads it): it exits 2, which the
    unit does not restart (RestartPreventExitStatus=2)."""
    conf = write_config(tmp_path, synced(sqlite_url), extra="instances_path = /nonexistent/i")

    result = run("resource-tracker", "--config-file", conf)

    assert result.returncode == 2
    assert (
        result.stderr
        == FAILURES["instances-path-missing"][1].replace(
            "/nonexistent/instances", "/nonexistent/i"
        )
        + "\n"
    )
    assert not os.path.exists("/nonexistent/i")
