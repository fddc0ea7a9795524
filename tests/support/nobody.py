"""Commands run as `nobody` (or another user), whatever directory the checkout is in.

Debian makes root's home 0700, so `nobody` cannot reach a checkout there, nor its virtualenv.
When a directory on the way to what the command needs (the checkout, the Python it runs)
is closed to others, the command runs in a mount namespace of its own where that directory
is an empty 0755 tmpfs holding only those, bind-mounted at their own paths: the command sees
the same paths, and nothing changes outside it.
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import pytest

from tests.support import hosts, images
from tests.support.paths import ROOT
from tests.support.quiet_fs import own_file_system

NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]

# Run as root inside the new mount namespace: hide each closed directory under a tmpfs,
# bring back what is needed under it, then exec the command.
_REVEAL_AND_EXEC = """
import os, subprocess, sys, tempfile
closed, needed = sys.argv[1].split(":"), sys.argv[2].split(":")
stage = tempfile.mkdtemp(prefix="rt-nobody-")
for i, path in enumerate(needed):
    os.mkdir(f"{stage}/{i}")
    subprocess.run(["mount", "--bind", path, f"{stage}/{i}"], check=True)
for path in closed:
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "rt-nobody", path], check=True)
for i, path in enumerate(needed):
    os.makedirs(path, exist_ok=True)
    subprocess.run(["mount", "--move", f"{stage}/{i}", path], check=True)
    os.rmdir(f"{stage}/{i}")
os.rmdir(stage)
os.execvp(sys.argv[3], sys.argv[3:])
"""


class GuardedHost(NamedTuple):
    conf: str  # the daemon's config file
    disk: str  # the host's one qcow2 disk, root's
    home: str  # a directory of nobody's, under one nobody may not write


@contextmanager
def guarded_host(prefix: str, disk_size: str, state_path: str) -> Iterator[GuardedHost]:
    """A test-driver host with one disk, its config's state_path = `state_path` under `home`;
    skips the test where root cannot run commands as another user."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run commands as another user")
    base = tempfile.mkdtemp(prefix=prefix)
    try:
        os.chmod(base, 0o755)
        # its own file system: another test's writes would move disk_available_least
        with own_file_system(Path(base, "instances")) as instances:
            disk = images.create(instances / "guest.qcow2", "qcow2", disk_size)
            uri = hosts.render("one-disk.xml", base, DISK=disk)
            home = os.path.join(base, "home")
            os.mkdir(home)
            os.chown(home, 65534, 65534)
            state = os.path.normpath(os.path.join(home, state_path))
            conf = os.path.join(base, "resource-tracker.conf")
            with open(conf, "w") as config:
                config.write(
                    f"[DEFAULT]\nhost = guarded\nstate_path = {state}\n"
                    f"instances_path = {instances}\n[libvirt]\nconnection_uri = {uri}\n"
                )
            yield GuardedHost(conf, disk, home)
    finally:
        shutil.rmtree(base)


def command(argv: list[str], *setpriv_options: str) -> list[str]:
    """`argv` as nobody (and nogroup), with `setpriv_options` (capabilities, say)."""
    return command_as(NOBODY, argv, *setpriv_options)


def user(uid: int, gid: int, groups: tuple[int, ...] = ()) -> list[str]:
    """setpriv's arguments to run as `uid`:`gid` with these supplementary `groups` only
    (numbers: the user needs no passwd entry)."""
    supplementary = [f"--groups={','.join(map(str, groups))}"] if groups else ["--clear-groups"]
    return ["setpriv", f"--reuid={uid}", f"--regid={gid}", *supplementary]


def command_as(identity: list[str], argv: list[str], *setpriv_options: str) -> list[str]:
    """`argv` as the user `identity` (NOBODY, or user()) says, the checkout shown to it."""
    as_nobody = [*identity, *setpriv_options, *argv]
    needed = [os.path.realpath(ROOT), os.path.realpath(sys.base_prefix)]
    closed = sorted({directory for path in needed if (directory := _closed_ancestor(path))})
    if not closed:
        return as_nobody
    needed = [path for path in needed if any(_is_under(path, c) for c in closed)]
    reveal = [sys.executable, "-c", _REVEAL_AND_EXEC, ":".join(closed), ":".join(needed)]
    return ["unshare", "--mount", "--propagation", _propagation(), "--", *reveal, *as_nobody]


def _propagation() -> str:
    """unshare's --propagation, so that no mount made inside reaches another namespace:
    private, which makes / private, where / is a mount point (a booted host, a container).
    In a chroot into a plain directory / cannot be made private; there the mounts are copied
    unchanged, which is safe only when none of them propagates."""
    with open("/proc/self/mountinfo") as mountinfo:
        mounts = [line.split(" - ")[0].split() for line in mountinfo]
    if any(fields[4] == "/" for fields in mounts):
        return "private"
    if any(tag.startswith("shared:") for fields in mounts for tag in fields[6:]):
        pytest.skip(
            "/ is not a mount point and some mounts here are shared: a private mount "
            "namespace to show the checkout to nobody cannot be made"
        )
    return "unchanged"


def _closed_ancestor(path: str) -> str | None:
    """The outermost directory above `path` that others may not enter."""
    parts = os.path.realpath(path).split(os.sep)[1:-1]
    for depth in range(1, len(parts) + 1):
        directory = os.sep + os.path.join(*parts[:depth])
        if not os.stat(directory).st_mode & stat.S_IXOTH:
            return directory
    return None


def _is_under(path: str, directory: str) -> bool:
    return os.path.commonpath([path, directory]) == directory
