"""Real disk images made with qemu-img, and what qemu-img and os.stat say about them."""

from __future__ import annotations

import json
import os
import subprocess


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


def info(path) -> dict:
    return json.loads(qemu_img("info", "--output=json", "-U", os.fspath(path)))


def allocated(path) -> int:
    return os.stat(path).st_blocks * 512


def expected_overcommit(path) -> int:
    """Over-commit per DESIGN.md, from qemu-img's virtual size and the file's allocation."""
    return max(0, info(path)["virtual-size"] - allocated(path))
