"""An operator with read access only: the SQLite database and the last audit's breakdown as
`nobody` sees them, in a directory it may read but not write, with the daemon stopped."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import tempfile
from contextlib import closing

import pytest

from resource_tracker.audit.last_audit import LastAuditFile
from resource_tracker.db.api import Database
from tests.support import nobody
from tests.support.nodes import node
from tests.support.paths import BIN
from tests.unit.audit.test_last_audit import RESOURCES


@pytest.fixture
def state():
    """A state directory (0755, root's) with a synced SQLite database holding compute-1's row
    and its last audit, both 0644; returns (directory, config file)."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to read as another user")
    base = tempfile.mkdtemp(prefix="rt-read-access-")
    os.chmod(base, 0o755)
    url = f"sqlite:///{base}/resource_tracker.sqlite"
    database = Database(url)
    database.sync_schema()
    database.reconcile_compute_nodes("compute-1", [node(hypervisor_hostname="hv-1")])
    database.dispose()
    LastAuditFile(f"{base}/last-audit.json").write("compute-1", RESOURCES)
    conf = f"{base}/resource-tracker.conf"
    with open(conf, "w") as config:
        config.write(f"[DEFAULT]\nhost = compute-1\nstate_path = {base}\n")
    for name in os.listdir(base):
        os.chmod(os.path.join(base, name), 0o644)
    yield base, conf
    shutil.rmtree(base)


def as_nobody(conf: str, *args: str) -> subprocess.CompletedProcess:
    command = [os.path.join(BIN, "resource-tracker-manage"), "--config-file", conf, *args]
    return subprocess.run(nobody.command(command), capture_output=True, text=True, timeout=60)


def test_a_reader_without_write_access_reads_the_database_and_the_breakdown(state):
    base, conf = state
    files = sorted(os.listdir(base))

    listed = as_nobody(conf, "nodes", "list")
    shown = as_nobody(conf, "nodes", "show")

    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[1].split()[:2] == ["compute-1", "hv-1"]
    assert shown.returncode == 0, shown.stderr
    assert "disks at the last audit" in shown.stdout and "/i/vm/disk" in shown.stdout
    assert sorted(os.listdir(base)) == files  # it left nothing behind (no -wal, no -shm)


def test_a_breakdown_the_reader_may_not_read_is_reported_as_such(state):
    base, conf = state
    os.chmod(f"{base}/last-audit.json", 0o600)

    shown = as_nobody(conf, "nodes", "show")

    assert shown.returncode == 0, shown.stderr
    assert f"disks: cannot read {base}/last-audit.json: Permission denied" in shown.stdout
    assert "no breakdown recorded" not in shown.stdout


def test_db_sync_takes_an_earlier_releases_wal_database_out_of_wal(tmp_path):
    path = tmp_path / "resource_tracker.sqlite"
    with closing(sqlite3.connect(path)) as earlier:
        assert earlier.execute("PRAGMA journal_mode=WAL").fetchone() == ("wal",)

    with Database(f"sqlite:///{path}") as database:
        database.sync_schema()

    with closing(sqlite3.connect(path)) as after:
        assert after.execute("PRAGMA journal_mode").fetchone() == ("delete",)
