"""Fuzzing the disk path: real images, their headers mutated at random, through a DiskMeter.

Every case writes a real image made by qemu-img (version 2 and 3, backing files, external
data files named absolutely and relatively, extended L2, 2 MiB clusters, LUKS) with its
first bytes mutated: bytes flipped, header fields set to edge values, extension lengths
changed, names given NUL bytes, newlines, non-UTF-8 bytes or path tricks, files cut short.
The meter measures it next to a well-formed disk, twice (the second time from its cache),
and the case checks that measure() returned, that the hostile disk counts no more than its
header could honestly claim, that the other disk is untouched, and that what the meter
returned survives last-audit.json and `nodes show`.

CI runs RT_FUZZ_CASES cases (default 1500, a few seconds) from the seed RT_FUZZ_SEED; a
failure names the seed and case. Many more, locally:
    RT_FUZZ_CASES=200000 RT_FUZZ_SEED=$RANDOM .venv/bin/pytest tests/unit/virt/test_disk_fuzz.py
RT_FUZZ_QEMU (default 25) is how many accepted mutants are also checked against qemu-img.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import shutil
import struct
import subprocess

import pytest

from resource_tracker.audit.last_audit import LastAuditFile
from resource_tracker.cmd import render
from resource_tracker.exception import ImageError
from resource_tracker.virt import disk, qcow2
from tests.support import images
from tests.unit.audit.test_last_audit import RESOURCES
from tests.unit.virt.test_disk import file_disk

CASES = int(os.environ.get("RT_FUZZ_CASES", "1500"))
SEED = int(os.environ.get("RT_FUZZ_SEED", "20261121"))
QEMU_CHECKS = int(os.environ.get("RT_FUZZ_QEMU", "25"))
HEAD_BYTES = 65536  # the first cluster of most images: all the meter may read

# (offset, size) of every header field, version 3 included
FIELDS = [(0, 4), (4, 4), (8, 8), (16, 4), (20, 4), (24, 8), (32, 4), (36, 4), (40, 8),
          (48, 8), (56, 4), (60, 4), (64, 8), (72, 8), (80, 8), (88, 8), (96, 4), (100, 4),
          (104, 1)]  # fmt: skip
EXTENSION_MAGICS = [qcow2.EXT_BACKING_FORMAT, qcow2.EXT_DATA_FILE, 0x6803F857, 0x0537BE77]
NASTY = [b"\0", b"\n", b"\r", b"<3>", b"\xff", b"\xc3", b"/", b"..", b"%s", b"\x1b[31m", b"\t"]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """The images the cases start from, with their data and backing files beside them."""
    directory = tmp_path_factory.mktemp("fuzz")
    kinds = images.every_kind(directory)
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", "-o", "data_file=rel.raw", "rel.qcow2", "1G"],
        cwd=directory,
        check=True,
    )
    paths = [image.path for image in kinds.values() if image.format == "qcow2"]
    paths.append(str(directory / "rel.qcow2"))
    bases = {}
    for path in paths:
        with open(path, "rb") as image:
            bases[os.path.basename(path)] = image.read(HEAD_BYTES)
    control = images.create(directory / "control" / "control.qcow2", "qcow2", "3G")
    return directory, bases, control


def test_hostile_headers_cost_their_disk_only_and_never_count_more_than_they_claim(workspace):
    directory, bases, control = workspace
    control_disk = file_disk(control, target="vdz")
    (expected_control,) = disk.DiskMeter(racy_window_ns=0).measure([control_disk])
    rng = random.Random(SEED)
    path = str(directory / "case.qcow2")
    qemu_checked = 0
    for case in range(CASES):
        base = rng.choice(sorted(bases))
        data = mutate(rng, bytearray(bases[base]))
        with open(path, "wb") as image:
            image.write(data)
        where = f"case {case} of RT_FUZZ_SEED={SEED} (from {base})"
        meter = disk.DiskMeter(racy_window_ns=0)
        for _ in range(2):  # the second audit answers from the meter's cache
            try:
                usages = meter.measure([file_disk(path), control_disk])
            except Exception as error:  # the point: nothing may escape
                shutil.copyfile(path, directory / "failed.qcow2")
                pytest.fail(f"{where}: measure() raised {error!r}; see {directory}/failed.qcow2")
            assert [u.path for u in usages] == [path, control], where
            usage, control_usage = usages
            assert control_usage == expected_control, where
            check_honest(usage, data, where)
        check_shown(usage, directory, where)
        if usage.problem is None and qemu_checked < QEMU_CHECKS and agrees_with_qemu(usage, data):
            qemu_checked += 1
    assert qemu_checked > 0 or CASES < 100  # some mutants are valid images qemu-img reads


def check_honest(usage, data: bytes, where: str) -> None:
    """The disk counts at most what its header claims, the claim within what QEMU allows."""
    own = os.stat(usage.path).st_blocks * 512
    assert usage.format == "qcow2", where
    assert usage.allocated_bytes >= own, where
    if usage.data_file is not None:
        assert usage.allocated_bytes <= own + _blocks(usage.data_file), where
    else:
        assert usage.allocated_bytes == own, where
    if usage.virtual_bytes is None:
        assert usage.overcommit_bytes == 0 and usage.problem, where
        return
    claimed, addressable = header_claim(data)
    assert usage.virtual_bytes == claimed <= min(addressable, qcow2.MAX_VIRTUAL_SIZE), where
    assert usage.overcommit_bytes == max(0, usage.virtual_bytes - usage.allocated_bytes), where
    if usage.problem is None:
        try:
            info = qcow2.parse(data)
        except ImageError as error:
            pytest.fail(f"{where}: measured although the decoder refuses it: {error}")
        assert info.virtual_size == usage.virtual_bytes, where


def header_claim(data: bytes) -> tuple[int, int]:
    """The virtual size the header states (in whole sectors, as QEMU takes it), and how much
    its L1 table can address."""
    cluster_bits, size = struct.unpack_from(">IQ", data, 20)
    (l1_size,) = struct.unpack_from(">I", data, 36)
    (version,) = struct.unpack_from(">I", data, 4)
    extended = version == 3 and struct.unpack_from(">Q", data, 72)[0] & qcow2.INCOMPAT_EXTENDED_L2
    return size // 512 * 512, l1_size << (2 * cluster_bits - (4 if extended else 3))


def _blocks(path: str) -> int:
    try:
        return os.stat(path).st_blocks * 512
    except OSError:
        return 0


def check_shown(usage, directory, where: str) -> None:
    """What the meter returned survives the last-audit file and prints as one safe row each."""
    resources = dataclasses.replace(RESOURCES, disks=(usage,))
    record = LastAuditFile(str(directory / "last-audit.json"))
    record.write("compute-1", resources)
    read = record.read("compute-1")
    (stored,) = read.disks
    assert stored.path == usage.path and stored.problem == usage.problem, where
    assert stored.data_file == usage.data_file, where
    shown = render.table(
        ("PATH", "PROBLEM", "DATA"), [(usage.path, usage.problem, usage.data_file)]
    )
    assert len(shown.splitlines()) == 2, where
    assert all(line.isprintable() for line in shown.splitlines()), where
    shown.encode("utf-8")  # strict: no lone surrogate reaches a terminal
    json.dumps(read.as_json()["disks"][0]).encode("ascii")


def agrees_with_qemu(usage, data: bytes) -> bool:
    """True if qemu-img read the mutant too (it then must agree); False if it refused it."""
    path = usage.path
    try:
        result = subprocess.run(
            ["qemu-img", "info", "--output=json", "-U", "-f", "qcow2", path],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False
    if result.returncode != 0:
        return False
    qemu = json.loads(result.stdout)
    assert qemu["virtual-size"] == usage.virtual_bytes, path
    name = qemu.get("format-specific", {}).get("data", {}).get("data-file")
    # qemu-img names the extension's data file even when the incompatible bit is clear; QEMU
    # then keeps the data in the image itself, as we count it
    version, incompatible = (
        struct.unpack_from(">I", data, 4)[0],
        struct.unpack_from(">Q", data, 72)[0],
    )
    if version != 3 or not incompatible & qcow2.INCOMPAT_DATA_FILE:
        name = None
    expected = os.path.join(os.path.dirname(path), name) if name else None
    assert usage.data_file == expected, path
    return True


def mutate(rng: random.Random, data: bytearray) -> bytes:
    for _ in range(rng.randint(1, 3)):
        data = rng.choice(MUTATIONS)(rng, data)
    return bytes(data)


def flip_bytes(rng: random.Random, data: bytearray) -> bytearray:
    for _ in range(rng.randint(1, 8)):
        offset = rng.randrange(min(len(data), 1024) or 1)
        if offset < len(data):
            data[offset] = (
                rng.randrange(256)
                if rng.random() < 0.5
                else data[offset] ^ (1 << rng.randrange(8))
            )
    return data


def set_field(rng: random.Random, data: bytearray) -> bytearray:
    offset, size = rng.choice(FIELDS)
    if offset + size <= len(data):
        data[offset : offset + size] = edge_value(rng, size).to_bytes(size, "big")
    return data


def edge_value(rng: random.Random, size: int) -> int:
    top = 2 ** (8 * size) - 1
    value = rng.choice([0, 1, 2, 7, 8, 9, 21, 22, 63, 64, 104, 112, 1023, 1024, 4096,
                        65536, top, top >> 1, (top >> 1) + 1, rng.randrange(top + 1)])  # fmt: skip
    return min(value + rng.choice([-1, 0, 0, 1]), top) if value else value


def set_extension_length(rng: random.Random, data: bytearray) -> bytearray:
    starts = [
        at
        for magic in EXTENSION_MAGICS
        if (at := bytes(data[:HEAD_BYTES]).find(struct.pack(">I", magic))) >= 0
    ]
    if starts:
        at = rng.choice(starts)
        if at + 8 <= len(data):
            struct.pack_into(">I", data, at + 4, edge_value(rng, 4))
    return data


def spoil_name(rng: random.Random, data: bytearray) -> bytearray:
    """Write NUL, newline, non-UTF-8 or path bytes into a name the header holds."""
    names = [(at, length) for at, length in _name_offsets(data) if at < len(data)]
    if names:
        start, length = rng.choice(names)
        nasty = rng.choice(NASTY)
        at = start + rng.randrange(max(length, 1))
        data[at : at + len(nasty)] = nasty
        del data[HEAD_BYTES:]
    return data


def _name_offsets(data: bytearray) -> list[tuple[int, int]]:
    found = []
    if len(data) >= 20:
        backing_offset, backing_size = struct.unpack_from(">QI", data, 8)
        if 0 < backing_offset < len(data):
            found.append((backing_offset, backing_size))
    for magic in (qcow2.EXT_BACKING_FORMAT, qcow2.EXT_DATA_FILE):
        at = bytes(data[:4096]).find(struct.pack(">I", magic))
        if at >= 0 and at + 8 <= len(data):
            found.append((at + 8, struct.unpack_from(">I", data, at + 4)[0]))
    return found


def cut_short(rng: random.Random, data: bytearray) -> bytearray:
    del data[rng.randrange(len(data) + 1) :]
    return data


def random_run(rng: random.Random, data: bytearray) -> bytearray:
    at = rng.randrange(min(len(data), 4096) or 1)
    data[at : at + 16] = rng.randbytes(16)
    return data


MUTATIONS = [flip_bytes, flip_bytes, set_field, set_field, set_extension_length, spoil_name,
             spoil_name, cut_short, random_run]  # fmt: skip
