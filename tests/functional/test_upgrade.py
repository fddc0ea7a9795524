"""Rolling upgrades: the previous release's daemon against this release's schema, and this
release's daemon against the previous release's schema, as real processes.

The previous release is commit PREVIOUS, the last main before 0.1.0 (schema head 0006),
named by its commit since a clone may lack the tags; it is checked out into a temporary git
worktree and run with this checkout's interpreter and libraries."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from sqlalchemy import text

from resource_tracker.db import schema
from resource_tracker.db.api import Database
from tests.functional.test_cli import run
from tests.support.daemon import Daemon
from tests.support.notify import NotifyListener
from tests.support.paths import ROOT
from tests.support.waiting import wait_for

PREVIOUS = "904a33b"
PREVIOUS_HEAD = "0006"


def git(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", ROOT, *args], capture_output=True, text=True, check=check)


@pytest.fixture(scope="module")
def previous(tmp_path_factory):
    """The previous release's tree, in a git worktree removed afterwards."""
    if git("rev-parse", "--git-dir", check=False).returncode != 0:
        pytest.skip("not a git checkout: the previous release cannot be checked out")
    if git("cat-file", "-e", f"{PREVIOUS}^{{commit}}", check=False).returncode != 0:
        pytest.skip(f"commit {PREVIOUS} (the previous release) is not in this clone")
    path = str(tmp_path_factory.mktemp("previous") / "tree")
    git("worktree", "add", "--detach", path, PREVIOUS)
    yield path
    git("worktree", "remove", "--force", path)


def run_previous(tree: str, module: str, *args: str) -> subprocess.CompletedProcess:
    """A command of the previous release: its code first on the path, our interpreter."""
    code = f"import sys; from {module} import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        env={**os.environ, "PYTHONPATH": tree},
        cwd=tree,  # `-c` puts the working directory first on the path
        capture_output=True,
        text=True,
        timeout=120,
    )


def live_hosts(url: str) -> list[str]:
    """The hosts of the live compute_nodes rows, read with any revision's columns."""
    with Database(url) as database, database.engine.connect() as connection:
        query = text("SELECT host FROM compute_nodes WHERE deleted = 0")
        return list(connection.execute(query).scalars())


def test_the_previous_release_keeps_writing_into_this_schema(previous, config, db_url):
    conf = config(database=db_url)
    assert run("resource-tracker-manage", "--config-file", conf, "db", "sync").returncode == 0

    once = run_previous(previous, "resource_tracker.cmd.daemon", "--config-file", conf, "--once")

    assert once.returncode == 0, once.stderr
    assert "compute-1" in once.stdout
    with Database(db_url) as database:
        (row,) = database.compute_nodes()
    assert (row.host, row.storage_id) == ("compute-1", "local:compute-1")
    assert (row.metrics, row.mapped) == (None, 0)  # columns it does not know: their defaults
    # and this release reads it: the nodes list of the new manage command
    listed = run("resource-tracker-manage", "--config-file", conf, "nodes", "list")
    assert listed.returncode == 0 and "compute-1" in listed.stdout, listed.stderr


def test_this_release_waits_on_the_previous_schema_and_writes_after_db_sync(
    previous, config, db_url, tmp_path
):
    conf = config(database=db_url, extra="update_resources_interval = 2")
    synced = run_previous(
        previous, "resource_tracker.cmd.manage", "--config-file", conf, "db", "sync"
    )
    assert synced.returncode == 0, synced.stderr
    with Database(db_url) as database:
        assert database.schema_revision() == PREVIOUS_HEAD
    notify = NotifyListener(str(tmp_path / "notify.sock"))
    daemon = Daemon(conf, notify.env(watchdog_s=2))
    try:
        behind = f"schema revision {PREVIOUS_HEAD}, this program needs {schema.head()}"
        assert daemon.wait_for_log(f"WARNING .*{behind}.*; waiting"), daemon.log
        assert notify.wait_for("READY=1", timeout_s=10)
        started = time.monotonic()
        time.sleep(9)  # checked every period (2 s), not with backoff (2, 4, 8 s apart)
        assert daemon.process.poll() is None, daemon.log
        checks = [t for t in notify.texts(since=started) if "STATUS=audit failed" in t]
        assert len(checks) >= 4, checks
        assert all(behind in t and "run: resource-tracker-manage db sync" in t for t in checks)
        assert notify.longest_silence(started, time.monotonic()) < 2  # WATCHDOG=1 meanwhile
        assert live_hosts(db_url) == []
        assert daemon.count(behind) == 1, daemon.log  # one line for the whole wait

        assert run("resource-tracker-manage", "--config-file", conf, "db", "sync").returncode == 0

        assert wait_for(lambda: live_hosts(db_url) == ["compute-1"], timeout_s=2 * 2 + 2), (
            daemon.log
        )
        assert daemon.wait_for_log(r"audit: compute-1: vCPUs", timeout_s=5), daemon.log
    finally:
        daemon.stop()
        notify.close()
