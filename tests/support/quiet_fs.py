"""A directory on a file system of its own, so that its free space moves only when the test
writes to it.

The tests share this machine's root file system with other work: its free space changes
between two audits of one test, which changes free_disk_gb and disk_available_least, and a
test that counts the row's writes (or a dry run's columns) sees one more. A private tmpfs
(root may mount one) has nothing on it but what the test puts there. Elsewhere (not root)
the directory is a plain one of the shared file system, as before.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

SIZE = "1g"  # a cap: tmpfs takes memory only for what is written (sparse images: little)


@contextlib.contextmanager
def own_file_system(path: Path) -> Iterator[Path]:
    path.mkdir(parents=True)
    mounted = os.geteuid() == 0 and _run(
        "mount", "-t", "tmpfs", "-o", f"size={SIZE}", "rt-test", path
    )
    try:
        yield path
    finally:
        if mounted:
            # lazily: a process a test left behind may still have a file open there
            _run("umount", "--lazy", path)


def _run(*command) -> bool:
    return subprocess.run(command, capture_output=True, timeout=30).returncode == 0
