"""The logging both commands set up: one event, one line, escaped, bounded."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
from sqlalchemy import create_engine

from resource_tracker.cmd.logs import setup_logging
from resource_tracker.text import MAX_RECORD_CHARS

LOG = logging.getLogger("resource_tracker.test")


@pytest.fixture
def logged(capsys, monkeypatch):
    """Set logging up as a command does; returns a function giving the lines written."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level

    def start(journal: bool = False, debug: bool = False):
        if journal:
            monkeypatch.setenv("JOURNAL_STREAM", "8:1234")
        setup_logging(SimpleNamespace(debug=debug))

    def lines() -> list[str]:
        return capsys.readouterr().err.splitlines()

    yield start, lines
    root.handlers[:] = handlers
    root.setLevel(level)


def test_a_traceback_is_one_entry_with_its_priority_under_journald(logged):
    start, lines = logged
    start(journal=True)

    try:
        {}["missing"]
    except KeyError:
        LOG.warning("audit failed: %s", "boom", exc_info=True)

    (line,) = lines()
    assert line.startswith("<4>WARNING resource_tracker.test: audit failed: boom\\n")
    assert "Traceback (most recent call last):\\n" in line and line.endswith("KeyError: 'missing'")


def test_a_name_cannot_forge_an_entry_or_a_line(logged):
    start, lines = logged
    start(journal=True)

    LOG.warning("disk %s: vanished", "/i/a\n<3>forged ERROR\r\x1b[2J\x00\x85\u2028end")

    (line,) = lines()
    assert line == (
        "<4>WARNING resource_tracker.test: disk "
        "/i/a\\n<3>forged ERROR\\r\\x1b[2J\\x00\\x85\\u2028end: vanished"
    )


def test_a_record_is_bounded_and_keeps_its_start_and_end(logged):
    start, lines = logged
    start()
    path = "/instances/" + "x" * 9_000_000 + "/disk"

    LOG.warning("skipping disk %s: File name too long", path)

    (line,) = lines()
    assert len(line) <= MAX_RECORD_CHARS
    assert " WARNING resource_tracker.test: skipping disk /instances/xxx" in line
    assert line.endswith("xxx/disk: File name too long")
    assert "characters cut ...]" in line
    assert len(line.encode()) < 48 * 1024  # journald's LineMax: never split into entries


@pytest.mark.parametrize("debug", [False, True])
def test_the_pools_error_and_its_traceback_become_one_debug_line(logged, tmp_path, debug):
    start, lines = logged
    start(debug=debug)
    engine = create_engine(f"sqlite:///{tmp_path}/x.sqlite")
    connection = engine.raw_connection()
    connection.driver_connection.close()  # the server went away under a pooled connection

    connection.close()  # the pool's reset fails: SQLAlchemy logs an ERROR with a traceback

    written = lines()
    engine.dispose()
    if not debug:
        assert written == []
    else:
        (line,) = [line for line in written if "sqlalchemy.pool" in line]
        assert " DEBUG sqlalchemy.pool.impl.QueuePool: Exception during reset or similar: " in line
        assert line.endswith("Cannot operate on a closed database.")
        assert "Traceback" not in line


def test_set_up_twice_an_event_is_still_one_line(logged):
    start, lines = logged
    start()
    start()

    LOG.warning("one event")

    assert len(lines()) == 1
