"""Local storage in an LVM volume group, whose logical volumes are the instance disks.

The group's size and free space come from one `vgs` run per audit, not per disk: the disks
themselves are block devices, which count no over-commit. LVM has no library left to ask
in-process (liblvm2app was removed in LVM 2.03) and its D-Bus service is rarely running;
reading the metadata off the physical volumes ourselves would bypass LVM's locking. `vgs`
takes about 40 ms here; it runs under a time limit so that a stuck device cannot hold the
audit, and reads in the C locale so its numbers parse the same everywhere.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from resource_tracker.exception import StorageUnavailable
from resource_tracker.resources import LocalStorage
from resource_tracker.timeouts import LVM_VGS_S

VGS_OPTIONS = ("--noheadings", "--nosuffix", "--units", "b", "-o", "vg_size,vg_free")
SBIN = "/usr/local/sbin:/usr/sbin:/sbin"  # where vgs is, which a user's PATH may not name


class LvmStorage:
    def __init__(self, volume_group: str, timeout_s: float = LVM_VGS_S):
        self.volume_group = volume_group
        self.timeout_s = timeout_s

    def measure(self) -> LocalStorage:
        size, free = self._vg_size_and_free()
        return LocalStorage(total_bytes=size, free_bytes=free, used_bytes=size - free)

    def measure_images(self, disks) -> tuple:
        return ()  # logical volumes are block devices: no over-commit

    def close(self) -> None:
        pass

    def _vg_size_and_free(self) -> tuple[int, int]:
        where = f"cannot measure volume group {self.volume_group}"
        env = os.environ | {"LC_ALL": "C", "LVM_SUPPRESS_FD_WARNINGS": "1"}
        vgs_path = shutil.which("vgs", path=f"{os.environ.get('PATH', '')}:{SBIN}")
        if vgs_path is None:
            raise StorageUnavailable(f"{where}: vgs not found (install lvm2)")
        try:
            vgs = subprocess.run(
                [vgs_path, *VGS_OPTIONS, "--", self.volume_group],
                capture_output=True,
                text=True,
                timeout=self.timeout_s,
                env=env,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise StorageUnavailable(
                f"{where}: vgs gave no answer in {self.timeout_s:g} s"
            ) from None
        if vgs.returncode != 0:
            raise StorageUnavailable(f"{where}: {_reason(vgs, self.volume_group)}")
        try:
            size, free = (int(field) for field in vgs.stdout.split())
        except ValueError:
            raise StorageUnavailable(f"{where}: unexpected vgs output {vgs.stdout!r}") from None
        return size, free


def _reason(vgs: subprocess.CompletedProcess, volume_group: str) -> str:
    """Why vgs failed, in a user's terms, with the line of vgs that tells it. Other lines
    do not matter here: warnings and, where the kernel's device-mapper cannot be reached
    (a container), LVM 2.03.31's four lines about that, written before the one that
    matters; vgs needs no device-mapper to measure a group."""
    lines = [line.strip() for line in vgs.stderr.splitlines() if line.strip()]
    if f'Volume group "{volume_group}" not found' in lines:
        return f'no such volume group (vgs: Volume group "{volume_group}" not found)'
    errors = [line for line in lines if not line.startswith("WARNING")]
    denied = [line for line in errors if "Permission denied" in line]
    if denied:
        return f"LVM needs root here (vgs: {denied[0]})"
    other = [line for line in errors if not _about_device_mapper(line)]
    if other:
        return f"vgs: {other[0]}"
    if errors:
        return f"LVM cannot reach the kernel's device-mapper (vgs: {errors[0]})"
    return f"vgs: {(lines or [f'exit status {vgs.returncode}'])[0]}"


def _about_device_mapper(line: str) -> bool:
    return any(word in line for word in ("device-mapper", "/dev/mapper/", "libdevmapper"))
