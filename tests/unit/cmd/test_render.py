"""Tables that fit a terminal, and short ages."""

from __future__ import annotations

import os

import pytest

from resource_tracker.cmd import render

HEADER = ("HOST", "PATH", "SIZE")


def test_table_aligns_columns():
    text = render.table(HEADER, [("a", "/x", 1), ("bb", "/yy", 22)], right=(2,))

    assert text.splitlines() == ["HOST  PATH  SIZE", "a     /x       1", "bb    /yy     22"]


def test_long_names_are_cut_until_the_table_fits():
    rows = [("compute-" + "x" * 60, "/var/lib/nova/instances/" + "y" * 60 + "/disk", 10)]

    text = render.table(HEADER, rows, right=(2,), shrink=(0, 1), keep_end=(1,), width=60)

    _header, row = text.splitlines()
    assert len(row) == 60
    host, path, size = row.split()
    assert host.startswith("compute-") and host.endswith("…")
    assert path.startswith("…") and path.endswith("/disk")  # the file name is kept
    assert size == "10"


def test_columns_never_shrink_below_their_heading():
    text = render.table(HEADER, [("x" * 50, "y" * 50, 1)], shrink=(0, 1), width=10)

    assert text.splitlines()[1].split()[0] == "xxx…"


def test_missing_values_show_as_a_dash():
    assert render.table(("A", "B"), [(None, 1)]).splitlines()[1] == "-  1"


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(None, "never"), (0, "0s"), (59.9, "59s"), (60, "1m"), (3599, "59m"), (7200, "2h"),
     (90000, "1d"), (-2, "0s")],
)  # fmt: skip
def test_age(seconds, shown):
    assert render.age(seconds) == shown


def test_names_from_image_headers_are_shown_escaped_on_one_line():
    """A data file name may hold a newline, a terminal escape or bytes that are not UTF-8."""
    name = os.fsdecode(b"/i/d\n<3>forged\x1b[31m\xff.raw")

    shown = render.table(("PATH",), [(name,)])

    assert shown.splitlines() == ["PATH", "/i/d\\n<3>forged\\x1b[31m\\xff.raw"]
    shown.encode("utf-8")  # strict, as a UTF-8 terminal takes it
