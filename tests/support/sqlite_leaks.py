"""SQLite connections left to the garbage collector to close, caught on every Python.

Python 3.13 warns of such a connection (ResourceWarning: unclosed database), and the suite's
`filterwarnings = error` turns the warning into a failure; Python 3.12 and older say nothing.
track() gives every connection that sqlite3.connect makes (SQLAlchemy's included) a class that
warns alike on every Python, naming the code that opened it. SQLite connections are freed
by the cycle collector only, at any later time: collect_leaks() after each test runs it when a
connection is still open, so that the test that leaked one is the test that fails.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import os
import sqlite3
import sys
import warnings
import weakref

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_OURS = tuple(os.path.join(_ROOT, part) + os.sep for part in ("resource_tracker", "tests"))
_open_connections: weakref.WeakSet[TrackedConnection] = weakref.WeakSet()


class TrackedConnection(sqlite3.Connection):
    def __init__(self, *args, **kwargs):
        self._open = False
        super().__init__(*args, **kwargs)
        self._open = True
        self._opened_by = _opener()
        _open_connections.add(self)

    def close(self) -> None:
        self._open = False
        _open_connections.discard(self)
        super().close()

    def __del__(self) -> None:
        if not getattr(self, "_open", False):
            return
        try:
            message = f"unclosed database, opened by {self._opened_by}"
            warnings.warn(message, ResourceWarning, stacklevel=1)
        finally:
            with contextlib.suppress(sqlite3.Error):  # so Python 3.13 does not warn again
                self.close()


def track() -> None:
    """From now on, every connection sqlite3.connect makes in this process is tracked."""
    for module in (sqlite3, sqlite3.dbapi2):
        if not isinstance(module.connect, functools.partial):
            module.connect = functools.partial(module.connect, factory=TrackedConnection)


def collect_leaks() -> None:
    """Free the connections nothing refers to any more; each left open warns as it goes."""
    if _open_connections:
        gc.collect()


def _opener(frames: int = 3) -> str:
    """The innermost few calls of the project's own code on this thread's stack."""
    calls = []
    frame = sys._getframe(2)
    while frame is not None and len(calls) < frames:
        path = frame.f_code.co_filename
        if path.startswith(_OURS) and path != __file__:
            calls.append(f"{os.path.relpath(path, _ROOT)}:{frame.f_lineno} {frame.f_code.co_name}")
        frame = frame.f_back
    return " < ".join(calls) or "code outside the project"
