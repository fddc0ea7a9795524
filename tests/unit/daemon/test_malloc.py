"""The daemon's threads share glibc's one arena (its free pages are one heap to trim), unless
MALLOC_ARENA_MAX says otherwise; without the call each thread gets one of its own."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from resource_tracker.daemon import malloc

pytestmark = pytest.mark.skipif(malloc._MALLOPT is None, reason="not glibc")

# threads that each allocate while the others live, then glibc's own count of its arenas
THREADS = (
    "import ctypes, threading, sys; from resource_tracker.daemon import malloc;"
    "sys.argv[1] == 'one' and malloc.one_arena();"
    "go = threading.Barrier(5);"
    "work = lambda: (go.wait(), [bytearray(4000) for _ in range(1000)], go.wait());"
    "threads = [threading.Thread(target=work) for _ in range(4)];"
    "[t.start() for t in threads]; go.wait(); go.wait(); [t.join() for t in threads];"
    "ctypes.CDLL(None).malloc_stats()"
)


def arenas(how: str, **env: str) -> int:
    clean = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    done = subprocess.run(
        [sys.executable, "-c", THREADS, how],
        env=clean | env,
        capture_output=True,
        text=True,
        check=True,
    )
    return sum(line.startswith("Arena ") for line in done.stderr.splitlines())


def test_one_arena_serves_every_thread():
    assert arenas("one") == 1


def test_without_it_threads_get_arenas_of_their_own():
    assert arenas("default") > 1


def test_the_environments_malloc_arena_max_rules():
    assert arenas("one", MALLOC_ARENA_MAX="3") == 3
