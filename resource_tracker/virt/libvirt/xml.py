"""Reading libvirt's XML: what the domain and capabilities parsers share.

- size_bytes(element, attribute): a size in bytes. libvirt writes sizes (memory, pages) in
  KiB, but its schema allows a `unit` attribute naming any of MEMORY_UNITS.
- int_or(text, default): a whole number, or `default` where there is none or it does not
  parse.
"""

from __future__ import annotations

from typing import TypeVar

from resource_tracker.units import GiB, KiB, MiB, TiB

T = TypeVar("T")

MEMORY_UNITS = {
    "b": 1, "bytes": 1,
    "KB": 10**3, "k": KiB, "KiB": KiB,
    "MB": 10**6, "M": MiB, "MiB": MiB,
    "GB": 10**9, "G": GiB, "GiB": GiB,
    "TB": 10**12, "T": TiB, "TiB": TiB,
}  # fmt: skip


def size_bytes(element, attribute: str | None = None) -> int:
    """The size `element` holds (its text, or its `attribute`) in bytes, in its `unit`
    (KiB if none). TypeError or ValueError if there is no whole number, KeyError if the
    unit is unknown, AttributeError if `element` is None."""
    value = element.text if attribute is None else element.get(attribute)
    return int(value) * MEMORY_UNITS[element.get("unit", "KiB")]


def int_or(text: str | None, default: T) -> int | T:
    """`text` as a whole number, or `default` if it is None or not a number."""
    if text is None:
        return default
    try:
        return int(text)
    except ValueError:
        return default
