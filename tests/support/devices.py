"""Real block devices for the tests: a loop device, and an LVM volume group on one.

Both need root and a kernel that allows them; where they cannot be had the test is skipped
with the reason. They are removed when the test ends, whether it passed or not.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator

import pytest

# Keep LVM from touching the device mapper, which a container may lack: the tests need no
# active volume.
LVM_CONFIG = ("--driverloaded", "n")
LVM_ENV = os.environ | {"LC_ALL": "C", "LVM_SUPPRESS_FD_WARNINGS": "1"}


def _run(*command: str) -> str:
    return subprocess.run(command, check=True, capture_output=True, text=True, env=LVM_ENV).stdout


def skip_unless_root(what: str) -> None:
    if os.geteuid() != 0:
        pytest.skip(f"{what} needs root; these tests run as uid {os.geteuid()}")


@contextlib.contextmanager
def loop_device(directory, size: str) -> Iterator[str]:
    """A loop device over a sparse file of `size` in `directory`."""
    skip_unless_root("a loop device")
    if shutil.which("losetup") is None:
        pytest.skip("losetup not found (util-linux)")
    backing = os.path.join(os.fspath(directory), f"loop-{uuid.uuid4().hex[:8]}.img")
    subprocess.run(["truncate", "-s", size, backing], check=True)
    try:
        device = _run("losetup", "--find", "--show", backing).strip()
    except subprocess.CalledProcessError as error:
        pytest.skip(f"losetup refused a loop device here: {error.stderr.strip()}")
    try:
        yield device
    finally:
        subprocess.run(["losetup", "-d", device], check=False)
        os.unlink(backing)


@contextlib.contextmanager
def volume_group(device: str) -> Iterator[str]:
    """A volume group of its own on `device`; its name is returned."""
    if shutil.which("vgcreate") is None:
        pytest.skip("LVM tools not found: run tools/setup.sh --test (installs lvm2)")
    name = f"rt-test-{uuid.uuid4().hex[:8]}"
    _run("pvcreate", "-q", *LVM_CONFIG, device)
    try:
        _run("vgcreate", "-q", *LVM_CONFIG, name, device)
        try:
            yield name
        finally:
            _run("vgremove", "-q", "-f", *LVM_CONFIG, name)
    finally:
        _run("pvremove", "-q", *LVM_CONFIG, device)
        _forget_metadata_copies(name)


def _forget_metadata_copies(group: str) -> None:
    """LVM keeps copies of every group's metadata, even removed ones'; ours are throwaway."""
    dirs = _run("lvmconfig", "--typeconfig", "full", "backup/archive_dir", "backup/backup_dir")
    for line in dirs.splitlines():
        directory = line.partition("=")[2].strip().strip('"')
        for path in glob.glob(os.path.join(directory, f"{group}_*.vg")):
            os.unlink(path)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(directory, group))


def create_volume(group: str, name: str, size: str) -> None:
    """A logical volume, left inactive: only the group's free space matters to the tests."""
    _run("lvcreate", "-q", *LVM_CONFIG, "-an", "-Zn", "-L", size, "-n", name, group)


def vgs(group: str, *fields: str) -> list[int]:
    out = _run("vgs", *LVM_CONFIG, "--noheadings", "--nosuffix", "--units", "b",
               "-o", ",".join(fields), group)  # fmt: skip
    return [int(value) for value in out.split()]
