"""CPU and NUMA node sets in the syntax libvirt and Nova share: `0-3,^2,8`.

One parser for every place a set is written: the `[compute] cpu_shared_set` family of
options, and libvirt's `cpuset`, `nodeset` and `siblings` attributes. Ranges and single ids
separated by commas add to the set; `^N` takes N out again, wherever it stands.
"""

from __future__ import annotations

from collections.abc import Iterable

MAX_ID = 2**16  # a larger id is a typo, and `0-99999999` must not build a huge set


def parse(text: str) -> frozenset[int]:
    """The ids `text` names; ValueError saying what is wrong with it."""
    included: set[int] = set()
    excluded: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if not part:
            raise ValueError(f"empty entry in {text!r}")
        if part.startswith("^"):
            excluded.add(_id(part[1:], text))
            continue
        first, dash, last = part.partition("-")
        start = _id(first, text)
        end = _id(last, text) if dash else start
        if end < start:
            raise ValueError(f"range {part!r} runs backwards in {text!r}")
        included.update(range(start, end + 1))
    result = frozenset(included - excluded)
    if not result:
        raise ValueError(f"{text!r} names no CPU")
    return result


def _id(word: str, text: str) -> int:
    word = word.strip()
    if not word.isdigit():
        raise ValueError(f"{word!r} is not a CPU number in {text!r}")
    value = int(word)
    if value >= MAX_ID:
        raise ValueError(f"{value} is out of range in {text!r}")
    return value


def format(ids: Iterable[int]) -> str:
    """The shortest form of a set: `0-3,8`; empty for an empty set."""
    ordered = sorted(set(ids))
    runs: list[list[int]] = []
    for value in ordered:
        if runs and value == runs[-1][1] + 1:
            runs[-1][1] = value
        else:
            runs.append([value, value])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)
