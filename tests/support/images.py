"""Real disk images made with qemu-img, and what qemu-img and os.stat say about them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import NamedTuple

LUKS_SECRET = "rt-test-passphrase"


def qemu_img(*args: str) -> str:
    return subprocess.run(["qemu-img", *args], check=True, capture_output=True, text=True).stdout


def create(path, image_format: str, size: str, *options: str) -> str:
    path = os.fspath(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    qemu_img("create", "-q", "-f", image_format, *options, path, size)
    return path


def write(path, offset: str, length: str) -> None:
    """Have a 'guest' write into an image, so that clusters get allocated."""
    subprocess.run(
        ["qemu-io", "-c", f"write {offset} {length}", os.fspath(path)],
        check=True,
        capture_output=True,
    )


def info(path, image_format: str | None = None) -> dict:
    """qemu-img's view; `image_format` as libvirt would name it, else qemu-img's guess."""
    forced = ("-f", image_format) if image_format else ()
    return json.loads(qemu_img("info", "--output=json", "-U", *forced, os.fspath(path)))


def allocated(path) -> int:
    return os.stat(path).st_blocks * 512


def data_file(path) -> str | None:
    """The external data file qemu-img reports for a qcow2 image, as an absolute path."""
    return _data_file(path, info(path, "qcow2"))


def _data_file(path, qemu: dict) -> str | None:
    name = qemu.get("format-specific", {}).get("data", {}).get("data-file")
    return os.path.join(os.path.dirname(os.fspath(path)), name) if name else None


def expected_allocated(path, image_format: str | None = None) -> int:
    """What the disk takes: its blocks, and those of its data file if qemu-img reports one."""
    extra = _data_file(path, info(path, image_format))
    return allocated(path) + (allocated(extra) if extra else 0)


def expected_overcommit(path, image_format: str | None = None) -> int:
    """Over-commit per DESIGN.md, from qemu-img's virtual size and the file's allocation.

    `image_format` is the format libvirt names; None lets qemu-img tell (trusted images only).
    """
    virtual = info(path, image_format)["virtual-size"]
    return max(0, virtual - expected_allocated(path, image_format))


def create_luks(path, size: str) -> str:
    """A LUKS-encrypted qcow2 image.

    QEMU 7.2 times its key derivation by thread CPU time and on a busy VM fails, a third of
    the time, with "Unable to get accurate CPU usage": a few tries get past it.
    """
    options = "encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=10"
    secret = f"secret,id=sec0,data={LUKS_SECRET}"
    for attempt in range(20):
        try:
            return create(path, "qcow2", size, "--object", secret, "-o", options)
        except subprocess.CalledProcessError as error:
            if "accurate CPU usage" not in error.stderr or attempt == 19:
                raise
    raise AssertionError("unreachable")


class Image(NamedTuple):
    path: str
    format: str  # as libvirt's <driver type> names it


def every_kind(directory) -> dict[str, Image]:
    """One real image of every kind of file disk the audit must measure right, by name."""
    d = Path(directory)
    base = create(d / "base.qcow2", "qcow2", "4G")
    write(base, "0", "1M")
    middle = create(d / "middle.qcow2", "qcow2", "6G", "-b", base, "-F", "qcow2")
    write(middle, "1M", "2M")
    v3 = create(d / "v3.qcow2", "qcow2", "5G")
    write(v3, "0", "8M")
    data = create(d / "data-file.qcow2", "qcow2", "2G", "-o", f"data_file={d / 'data-file.raw'}")
    write(data, "0", "3M")
    sparse = create(d / "sparse.raw", "raw", "3G")
    write(sparse, "1G", "64K")
    fallocated = d / "fallocated.raw"
    with open(fallocated, "wb") as raw:
        os.posix_fallocate(raw.fileno(), 0, 8 * 2**20)
    guest_raw = d / "guest-wrote-qcow2-header.raw"
    shutil.copyfile(create(d / "claims-1P.qcow2", "qcow2", "1P"), guest_raw)
    os.unlink(d / "claims-1P.qcow2")
    return {
        "qcow2-v2": Image(create(d / "v2.qcow2", "qcow2", "3G", "-o", "compat=0.10"), "qcow2"),
        "qcow2-v3": Image(v3, "qcow2"),
        "backing-file": Image(
            create(d / "overlay.qcow2", "qcow2", "7G", "-b", base, "-F", "qcow2"), "qcow2"
        ),
        "backing-chain": Image(
            create(d / "top.qcow2", "qcow2", "8G", "-b", middle, "-F", "qcow2"), "qcow2"
        ),
        "2m-clusters": Image(
            create(d / "2m.qcow2", "qcow2", "9G", "-o", "cluster_size=2M"), "qcow2"
        ),
        "extended-l2": Image(
            create(d / "extended-l2.qcow2", "qcow2", "4G", "-o", "extended_l2=on"), "qcow2"
        ),
        "prealloc-metadata": Image(
            create(d / "metadata.qcow2", "qcow2", "1G", "-o", "preallocation=metadata"), "qcow2"
        ),
        "prealloc-full": Image(
            create(d / "full.qcow2", "qcow2", "8M", "-o", "preallocation=full"), "qcow2"
        ),
        "luks": Image(create_luks(d / "luks.qcow2", "2G"), "qcow2"),
        "data-file": Image(data, "qcow2"),
        "raw-sparse": Image(sparse, "raw"),
        "raw-fallocated": Image(os.fspath(fallocated), "raw"),
        "raw-with-qcow2-header": Image(os.fspath(guest_raw), "raw"),
    }
