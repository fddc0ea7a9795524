"""A measurement of a file system that other processes may be writing to (a shared /tmp)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

import pytest

T = TypeVar("T")


def measured_while_still(
    path: str | os.PathLike, measure: Callable[[], T]
) -> tuple[T, os.statvfs_result]:
    """measure(), taken again until statvfs(path) is the same before and after it; the
    result and that statvfs. `measure` must not write to the file system itself."""
    for _ in range(100):
        before = os.statvfs(path)
        result = measure()
        after = os.statvfs(path)
        if before == after:
            return result, after
    pytest.fail(f"the file system of {path} changed during each of 100 measurements")
