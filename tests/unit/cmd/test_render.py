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


def nova_cell(cell_id: int, pages: list[tuple[int, int, int, int]]) -> dict:
    """A NUMACell primitive with `pages` as (size_kb, used, total, reserved)."""
    return {
        "nova_object.data": {
            "id": cell_id,
            "socket": cell_id,
            "cpu_usage": 6,
            "cpuset": list(range(12)),
            "pinned_cpus": [],
            "pcpuset": list(range(10)),
            "siblings": [],
            "memory_usage": 38 * 1024,
            "memory": 96 * 1024,
            "mempages": [
                {
                    "nova_object.data": dict(
                        zip(("size_kb", "used", "total", "reserved"), page, strict=True)
                    )
                }
                for page in pages
            ],
        }
    }


def test_numa_cells_show_the_smallest_pages_in_gib_and_the_huge_ones_in_pages():
    topology = {
        "nova_object.data": {
            "cells": [
                nova_cell(0, [(4, 9961472, 18874368, 0), (2048, 1024, 2048, 0)]),
                nova_cell(1, [(64, 0, 1179648, 512), (1048576, 16, 32, 2)]),
            ]
        }
    }

    lines = render.numa_cells(topology).splitlines()

    assert lines[1].split()[5] == "PAGES_GIB"
    assert lines[2].split()[5:] == ["4K", "38.0/72.0", "2M", "1024/2048"]
    assert lines[3].split()[5:] == ["64K", "0.0/72.0", "r512", "1G", "16/32", "r2"]
    assert max(map(len, lines[:3] + lines[4:])) <= 80  # a classic terminal, cells and legend alike
