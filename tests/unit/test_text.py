"""one_line: anything a file name or header may hold, printed as one line of valid UTF-8."""

from __future__ import annotations

import os

from resource_tracker.text import one_line


def test_undecodable_bytes_of_a_file_name_are_shown_as_the_bytes_they_were():
    name = os.fsdecode(b"/images/d\xffisk\x80.qcow2")

    line = one_line(f"disk {name}: unreadable")

    assert line == "disk /images/d\\xffisk\\x80.qcow2: unreadable"
    line.encode("utf-8")  # lone surrogates would raise here


def test_control_characters_and_line_separators_are_escaped():
    assert one_line("a\nb\rc\td\x00e\u2028f") == "a\\nb\\rc\\td\\x00e\\u2028f"


def test_a_long_text_is_cut_in_the_middle_saying_so():
    line = one_line("x" * 100 + "y" * 100, limit=60)

    assert len(line) == 60
    assert line.startswith("xxx") and line.endswith("yyy")
    assert "[... 140 characters cut ...]" in line
