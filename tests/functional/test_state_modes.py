"""The modes of what the daemon creates in its state path, whatever the umask it runs under.

The daemon runs as nobody:nogroup (the unit's User= and Group=) under a shell's umask 022 and
a strict 077, into a state path that does not exist yet. An operator (a uid of its own, in
nogroup) reads the node with `nodes show`; another user (not in the group) cannot read a
thing. Users are bare numbers, so nothing is added to the machine.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from tests.support import nobody
from tests.support.paths import BIN

DAEMON = nobody.user(65534, 65534)
OPERATOR = nobody.user(60001, 60001, groups=(65534,))
OTHER = nobody.user(60002, 60002)

# A write as the daemon's would make one, held open while the journal's mode is read.
_JOURNAL_MODE = """
import os, sqlite3, stat, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN IMMEDIATE")
connection.execute("UPDATE services SET report_count = report_count + 1")
print(oct(stat.S_IMODE(os.stat(sys.argv[1] + "-journal").st_mode)))
connection.execute("ROLLBACK")
"""


@pytest.fixture
def host():
    """A host with one disk and a config whose state_path (two directories deep) is missing,
    under a directory nobody may write; returns (directory nobody writes in, config file)."""
    with nobody.guarded_host("rt-state-modes-", "1G", state_path="lib/resource-tracker") as host:
        yield host.home, host.conf


def run(identity: list[str], argv: list[str], umask: int = 0o022) -> subprocess.CompletedProcess:
    return subprocess.run(
        nobody.command_as(identity, argv),
        capture_output=True,
        text=True,
        errors="replace",  # a file read that should have failed prints SQLite's bytes
        timeout=120,
        umask=umask,
    )


def created(home: str) -> dict[str, tuple[int, int, int]]:
    """Everything under `home`, by path relative to it: (mode in octal, uid, gid)."""
    found = {}
    for directory, directories, files in os.walk(home):
        for name in directories + files:
            path = os.path.join(directory, name)
            st = os.lstat(path)
            mode = oct(stat.S_IMODE(st.st_mode))
            found[os.path.relpath(path, home)] = (mode, st.st_uid, st.st_gid)
    return found


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_state_is_for_the_daemon_and_its_group_only_whatever_the_umask(host, umask):
    home, conf = host
    state = os.path.join(home, "lib", "resource-tracker")
    database = os.path.join(state, "resource_tracker.sqlite")

    daemon = [os.path.join(BIN, "resource-tracker"), "--config-file", conf, "--once"]
    once = run(DAEMON, daemon, umask)

    assert once.returncode == 0, once.stderr
    assert created(home) == {
        "lib": ("0o750", 65534, 65534),
        "lib/resource-tracker": ("0o750", 65534, 65534),
        "lib/resource-tracker/resource_tracker.sqlite": ("0o640", 65534, 65534),
        "lib/resource-tracker/last-audit.json": ("0o640", 65534, 65534),
    }
    # the daemon's next write makes a journal: SQLite gives it the database's mode
    journal = run(DAEMON, [sys.executable, "-c", _JOURNAL_MODE, database], umask)
    assert journal.returncode == 0, journal.stderr
    assert journal.stdout.strip() == "0o640"

    manage = [os.path.join(BIN, "resource-tracker-manage"), "--config-file", conf]
    shown = run(OPERATOR, [*manage, "nodes", "show", "guarded"])
    assert shown.returncode == 0, shown.stderr
    assert "disks at the last audit" in shown.stdout and "guest.qcow2" in shown.stdout

    refused = run(OTHER, [*manage, "nodes", "show", "guarded"])
    assert refused.returncode != 0 and "guest.qcow2" not in refused.stdout
    # the files themselves are closed to others, not only the directories above them
    os.chmod(os.path.dirname(state), 0o755)
    os.chmod(state, 0o755)
    for path in (database, os.path.join(state, "last-audit.json")):
        read = run(OTHER, ["cat", path])
        assert read.returncode != 0 and "Permission denied" in read.stderr, path
