"""State files 0640 and directories 0750 whatever the umask, in this process (the daemon run
under a umask as another user: tests/functional/test_state_modes.py)."""

from __future__ import annotations

import os
import sqlite3
import stat
from contextlib import closing

import pytest

from resource_tracker import modes
from resource_tracker.audit.last_audit import LastAuditFile
from resource_tracker.db.api import Database
from resource_tracker.exception import DatabaseUnavailable
from tests.unit.audit.test_last_audit import RESOURCES


@pytest.fixture(params=[0o022, 0o077, 0o000], ids=["umask022", "umask077", "umask000"])
def umask(request):
    previous = os.umask(request.param)
    yield request.param
    os.umask(previous)


def mode(path) -> str:
    return oct(stat.S_IMODE(os.stat(path).st_mode))


def test_directories_are_made_0750_each(umask, tmp_path):
    modes.make_directories(str(tmp_path / "a" / "b" / "c"))

    assert [mode(tmp_path / p) for p in ("a", "a/b", "a/b/c")] == ["0o750"] * 3


def test_existing_directories_are_left_as_they_are(umask, tmp_path):
    (tmp_path / "a").mkdir()
    os.chmod(tmp_path / "a", 0o711)

    modes.make_directories(str(tmp_path / "a" / "b"))

    assert (mode(tmp_path / "a"), mode(tmp_path / "a" / "b")) == ("0o711", "0o750")


def test_the_last_audit_is_0640(umask, tmp_path):
    LastAuditFile(str(tmp_path / "last-audit.json")).write("compute-1", RESOURCES)

    assert os.listdir(tmp_path) == ["last-audit.json"]
    assert mode(tmp_path / "last-audit.json") == "0o640"


def test_an_earlier_world_readable_last_audit_is_replaced_by_a_0640_one(umask, tmp_path):
    path = tmp_path / "last-audit.json"
    path.write_text("{}")
    os.chmod(path, 0o644)

    LastAuditFile(str(path)).write("compute-1", RESOURCES)

    assert mode(path) == "0o640"


def test_the_sqlite_database_its_directories_and_its_journal(umask, tmp_path):
    path = tmp_path / "state" / "deep" / "resource_tracker.sqlite"

    with Database(f"sqlite:///{path}") as database:
        database.sync_schema()

    assert [mode(tmp_path / "state"), mode(path.parent), mode(path)] == [
        "0o750",
        "0o750",
        "0o640",
    ]
    with closing(sqlite3.connect(path, isolation_level=None)) as connection:
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("CREATE TABLE probe (x)")  # a write: the journal opens
        assert mode(f"{path}-journal") == "0o640"
        connection.execute("ROLLBACK")


def test_a_missing_sqlite_file_opened_later_is_created_0640(umask, tmp_path):
    # the file removed under a daemon that has already synced: a new connection makes it
    path = tmp_path / "resource_tracker.sqlite"

    with Database(f"sqlite:///{path}") as database:
        assert database.schema_revision() is None

    assert mode(path) == "0o640"


def test_a_directory_that_cannot_be_made_is_one_line(tmp_path):
    (tmp_path / "file").write_text("")

    with (
        Database(f"sqlite:///{tmp_path}/file/state/rt.sqlite") as database,
        pytest.raises(DatabaseUnavailable) as raised,
    ):
        database.sync_schema()

    assert str(raised.value) == (
        f"database sqlite:///{tmp_path}/file/state/rt.sqlite: "
        f"cannot create {tmp_path}/file/state: Not a directory"
    )
