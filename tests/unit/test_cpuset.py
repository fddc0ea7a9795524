"""CPU set syntax (`0-3,^2,8`), shared by the options and libvirt's XML attributes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from resource_tracker import cpuset


@pytest.mark.parametrize(
    ("text", "ids"),
    [
        ("0", {0}),
        ("0-3", {0, 1, 2, 3}),
        ("0-3,^2,8", {0, 1, 3, 8}),
        ("^2,0-3", {0, 1, 3}),  # an exclusion applies wherever it stands
        (" 4 - 5 , 7 ", {4, 5, 7}),
        ("1,1,1-2", {1, 2}),
    ],
)
def test_parse(text, ids):
    assert cpuset.parse(text) == ids


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "empty entry"),
        ("0,,1", "empty entry"),
        ("a-3", "'a' is not a CPU number"),
        ("3-1", "runs backwards"),
        ("-1", "'' is not a CPU number"),
        ("0-99999999", "out of range"),
        ("0,^0", "names no CPU"),
        ("1.5", "not a CPU number"),
    ],
)
def test_parse_refuses_with_a_reason(text, says):
    with pytest.raises(ValueError, match=says):
        cpuset.parse(text)


def test_format_is_the_shortest_form():
    assert cpuset.format({8, 0, 1, 2, 3, 5}) == "0-3,5,8"
    assert cpuset.format(set()) == ""


@given(st.frozensets(st.integers(0, 300), min_size=1))
def test_format_and_parse_round_trip(ids):
    assert cpuset.parse(cpuset.format(ids)) == ids
