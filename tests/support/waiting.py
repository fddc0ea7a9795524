"""Waiting for something to become true, without sleeping longer than needed."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable


def wait_for(predicate: Callable[[], bool], timeout_s: float, interval_s: float = 0.1) -> bool:
    """Poll `predicate` until it is true (True) or `timeout_s` has passed (False)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval_s)
    return predicate()


def wait_for_server(
    connect: Callable[[], None],
    errors: type[Exception] | tuple[type[Exception], ...],
    process: subprocess.Popen,
    timeout_s: float,
    log: str,
) -> None:
    """Wait until `connect()` stops raising `errors`; fail early if the server process died."""

    def ready() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with status {process.returncode}; see {log}")
        try:
            connect()
        except errors:
            return False
        return True

    if not wait_for(ready, timeout_s):
        raise RuntimeError(f"server did not answer within {timeout_s} s; see {log}")
