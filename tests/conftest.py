"""Shared fixtures: databases (SQLite and a private MariaDB) and image directories."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pymysql
import pytest
from sqlalchemy.engine import make_url

from resource_tracker.db.api import Database
from tests.support import ceph as ceph_support
from tests.support import hosts, images, sqlite_leaks
from tests.support.libvirtd import Libvirtd
from tests.support.mariadb import MariaDBServer, create_tracker_database
from tests.support.quiet_fs import own_file_system

sqlite_leaks.track()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A test's captured output as valid UTF-8: pytest-xdist's workers send it as UTF-8, and
    what the code under test logs of a hostile file name (before our log formatter escapes
    it) holds the lone surrogates of its undecodable bytes."""
    report = (yield).get_result()
    report.sections = [
        (title, text.encode("utf-8", "backslashreplace").decode())
        for title, text in report.sections
    ]


class ExternalServer:
    """A server named by RT_TEST_MYSQL_URL; the tests create and drop their own databases."""

    def __init__(self, url: str):
        self._url = make_url(url)
        self.port = self._url.port or 3306

    def url(self, database: str = "") -> str:
        url = self._url.set(database=database, query={"charset": "utf8mb4"})
        return url.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def mariadb(tmp_path_factory):
    external = os.environ.get("RT_TEST_MYSQL_URL")
    if external:
        yield ExternalServer(external)
        return
    server = MariaDBServer(str(tmp_path_factory.mktemp("mariadb")))
    server.initialize()
    server.start()
    yield server
    server.stop()


def _admin(server_url: str) -> pymysql.Connection:
    url = make_url(server_url)
    return pymysql.connect(
        host=url.host, port=url.port or 3306, user=url.username, password=url.password or ""
    )


@pytest.fixture
def mysql_url(mariadb):
    """A fresh, empty database of its own on the test MariaDB server."""
    name = f"rt_test_{uuid.uuid4().hex[:12]}"
    with _admin(mariadb.url()) as admin, admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
    yield mariadb.url(name)
    with _admin(mariadb.url()) as admin, admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {name}")


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'resource_tracker.sqlite'}"


@pytest.fixture(params=["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)])
def db_url(request):
    """Each test using it runs once on SQLite and once on MariaDB."""
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture
def database(db_url):
    """A Database at the head of the migrations, on SQLite and on MariaDB."""
    with Database(db_url) as database:
        database.sync_schema()
        yield database


@pytest.fixture
def sqlite_database(sqlite_url):
    """A Database at the head of the migrations, on SQLite only."""
    with Database(sqlite_url) as database:
        database.sync_schema()
        yield database


class TestHost(NamedTuple):
    uri: str
    instances: Path
    disk_paths: tuple[str, ...]


@pytest.fixture
def mixed_host(tmp_path) -> Iterator[TestHost]:
    """The 'mixed' host of tests/fixtures/hosts: its URI, instances directory and file disks.

    Its disks are real images made by qemu-img: a qcow2 with 4 MiB written, a sparse raw,
    a version 2 qcow2 and, for the shut-off domain, a qcow2 overlay on a backing file. The
    instances directory is a file system of its own where root may mount one
    (tests/support/quiet_fs.py), so its free space stays put between two audits.
    """
    with own_file_system(tmp_path / "instances") as disks:
        yield _mixed_host(tmp_path, disks)


def _mixed_host(tmp_path: Path, disks: Path) -> TestHost:
    base = images.create(disks / "_base" / "c.qcow2", "qcow2", "8G")
    paths = (
        images.create(disks / "a.qcow2", "qcow2", "20G"),
        images.create(disks / "a.raw", "raw", "2G"),
        images.create(disks / "b-v2.qcow2", "qcow2", "10G", "-o", "compat=0.10"),
        images.create(disks / "c-overlay.qcow2", "qcow2", "30G", "-b", base, "-F", "qcow2"),
    )
    images.write(disks / "a.qcow2", "0", "4M")
    return TestHost(hosts.render("mixed.xml", tmp_path, IMAGES=disks), disks, paths)


@pytest.fixture(scope="session")
def libvirtd():
    """A private libvirtd with QEMU, for the paths libvirt's test driver fakes."""
    daemon = Libvirtd()
    daemon.start()
    yield daemon
    daemon.shutdown()


@pytest.fixture(scope="session")
def placement_server(tmp_path_factory):
    """One real Placement service for the whole run (tests/support/placement.py)."""
    from tests.support.placement import PlacementServer

    server = PlacementServer(tmp_path_factory.mktemp("placement"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def ceph():
    """A private single-node Ceph cluster (monitor, manager, one OSD in memory), ~2 s."""
    missing = ceph_support.missing()
    if missing:
        pytest.skip(missing)
    cluster = ceph_support.CephCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def config(tmp_path, mixed_host, sqlite_url):
    """Write a daemon config for the mixed host; returns a function taking overrides."""

    def write(database=sqlite_url, uri=mixed_host.uri, extra="") -> str:
        path = tmp_path / "resource-tracker.conf"
        path.write_text(
            f"[DEFAULT]\nhost = compute-1\nstate_path = {tmp_path}\n"
            f"instances_path = {mixed_host.instances}\n"
            f"periodic_fuzzy_delay = 0\n{extra}\n"
            f"[libvirt]\nconnection_uri = {uri}\n"
            f"[database]\nconnection = {database}\n"
        )
        return str(path)

    return write


@pytest.fixture
def private_mariadb(tmp_path):
    """A MariaDB server of this test's own, free to be stopped; a 'tracker' user and database
    'rt' exist (tests.support.mariadb.create_tracker_database)."""
    server = MariaDBServer(str(tmp_path / "mariadb"))
    server.initialize()
    server.start()
    server.tracker_url = create_tracker_database(server)
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _no_sqlite_connection_left_open():
    """A SQLite connection the test left open fails it, on every Python."""
    yield
    sqlite_leaks.collect_leaks()
