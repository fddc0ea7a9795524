"""Hostile qcow2 headers: an image qemu-img made, with one field made absurd.

Each case names the image it starts from ("plain": a version 3 image, "backing": a version 3
overlay with a backing file), how it is spoilt, and the words the refusal must contain.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import NamedTuple

from tests.support import images

MAGIC, VERSION, BACKING_OFFSET, BACKING_SIZE, CLUSTER_BITS, SIZE = 0, 4, 8, 16, 20, 24
CRYPT_METHOD, L1_SIZE, INCOMPATIBLE, REFCOUNT_ORDER, HEADER_LENGTH = 32, 36, 72, 96, 100
FIRST_EXTENSION = 112  # where qemu-img's version 3 header (with compression type) ends


class Case(NamedTuple):
    base: str
    spoil: Callable[[bytearray], bytes]
    reason: str


def _set(offset: int, layout: str, value) -> Callable[[bytearray], bytes]:
    def spoil(data: bytearray) -> bytes:
        struct.pack_into(layout, data, offset, value)
        return bytes(data)

    return spoil


def _backing_past_end_of_file(data: bytearray) -> bytes:
    struct.pack_into(">Q", data, BACKING_OFFSET, 2000)
    return bytes(data[:1024])


CASES = {
    "wrong-magic": Case("plain", _set(MAGIC, ">4s", b"QFI\x00"), "bad magic"),
    "version-1": Case("plain", _set(VERSION, ">I", 1), "version 1"),
    "version-4": Case("plain", _set(VERSION, ">I", 4), "version 4"),
    "cluster-bits-0": Case("plain", _set(CLUSTER_BITS, ">I", 0), "cluster_bits 0"),
    "cluster-bits-64": Case("plain", _set(CLUSTER_BITS, ">I", 64), "cluster_bits 64"),
    "backing-offset-past-cluster": Case(
        "backing", _set(BACKING_OFFSET, ">Q", 2**63), "backing file name out of bounds"
    ),
    "backing-offset-past-end-of-file": Case(
        "backing", _backing_past_end_of_file, "truncated backing file name"
    ),
    "backing-name-4-GiB": Case(
        "backing", _set(BACKING_SIZE, ">I", 2**32 - 1), "backing file name out of bounds"
    ),
    "backing-name-1024": Case(
        "backing", _set(BACKING_SIZE, ">I", 1024), "backing file name out of bounds"
    ),
    "incompatible-bit-5": Case(
        "plain", _set(INCOMPATIBLE, ">Q", 1 << 5), "unknown incompatible feature bits 0x20"
    ),
    "incompatible-bit-63": Case(
        "plain", _set(INCOMPATIBLE, ">Q", 1 << 63), "unknown incompatible feature bits 0x8000"
    ),
    "data-file-bit-without-name": Case(
        "plain", _set(INCOMPATIBLE, ">Q", 1 << 2), "names no data file"
    ),
    "header-length-4-GiB": Case(
        "plain", _set(HEADER_LENGTH, ">I", 2**32 - 8), "exceeds the cluster size"
    ),
    "l1-table-too-small": Case("plain", _set(L1_SIZE, ">I", 0), "too small"),
    "virtual-size-2^64-1": Case("plain", _set(SIZE, ">Q", 2**64 - 1), "virtual size"),
    "encryption-method-7": Case("plain", _set(CRYPT_METHOD, ">I", 7), "encryption method 7"),
    "refcount-order-7": Case("plain", _set(REFCOUNT_ORDER, ">I", 7), "refcount_order 7"),
    "extension-4-GiB": Case(
        "plain", _set(FIRST_EXTENSION + 4, ">I", 2**32 - 1), "runs past the first cluster"
    ),
}


def make_bases(directory) -> dict[str, bytes]:
    """The leading 64 KiB of each image the cases start from."""
    plain = images.create(directory / "plain.qcow2", "qcow2", "1G")
    backing = images.create(directory / "backing.qcow2", "qcow2", "1G", "-b", plain, "-F", "qcow2")
    bases = {}
    for name, path in (("plain", plain), ("backing", backing)):
        with open(path, "rb") as image:
            bases[name] = image.read(65536)
    return bases


def make(case: Case, bases: dict[str, bytes]) -> bytes:
    return case.spoil(bytearray(bases[case.base]))
