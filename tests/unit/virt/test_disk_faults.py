"""What a DiskMeter counts when a disk cannot be measured: never less than the disk may take.

The faults are real where they can be made here: a header naming its data file with a NUL
byte, a file replaced between its stat and its read, a process out of file descriptors
(RLIMIT_NOFILE lowered in a child). EIO, ENOMEM, ETIMEDOUT and the like need a failing
device or network file system this machine does not have (no device mapper in this
kernel): they are raised by a patched os.stat or os.open, the only mocks here.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import subprocess
import sys

import pytest

from resource_tracker.virt import disk
from tests.support import images
from tests.support.paths import ROOT
from tests.unit.virt.test_disk import file_disk


@pytest.fixture
def meter():
    return disk.DiskMeter(racy_window_ns=0)


def warnings_in(caplog) -> list[str]:
    found = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    caplog.clear()
    return found


def patch_name(path, old: bytes, new: bytes) -> None:
    """Overwrite the name `old` in the image's header with `new`, of the same length."""
    with open(path, "r+b") as image:
        at = image.read(65536).index(old)
        image.seek(at)
        image.write(new)


def test_a_data_file_name_with_a_nul_byte_is_measured_as_qemu_uses_it(tmp_path, meter):
    """The issue's image: `os.stat` raised ValueError out of measure() and every audit failed."""
    path = images.create(
        tmp_path / "d.qcow2", "qcow2", "1G", "-o", f"data_file={tmp_path}/data.raw"
    )
    images.write(path, "0", "3M")
    os.rename(tmp_path / "data.raw", tmp_path / "d")
    patch_name(path, b"data.raw", b"d\0ta.raw")
    other = images.create(tmp_path / "other.qcow2", "qcow2", "2G")

    usage, other_usage = meter.measure([file_disk(path), file_disk(other, target="vdb")])

    assert usage.data_file == images.data_file(path) == str(tmp_path / "d")
    assert usage.allocated_bytes == images.expected_allocated(path, "qcow2")
    assert usage.overcommit_bytes == images.expected_overcommit(path, "qcow2")
    assert other_usage.overcommit_bytes == images.expected_overcommit(other, "qcow2")


def test_a_header_naming_itself_as_data_file_counts_its_blocks_once(tmp_path, meter):
    path = images.create(
        tmp_path / "img.qcow", "qcow2", "1G", "-o", f"data_file={tmp_path}/data.raw"
    )
    images.write(path, "0", "4M")
    patch_name(path, b"data.raw", b"img.qcow")

    (usage,) = meter.measure([file_disk(path)])

    assert usage.data_file == path
    assert usage.allocated_bytes == images.allocated(path)
    assert usage.overcommit_bytes == 2**30 - images.allocated(path)


class Unforeseen(Exception):
    """What a bug in our code, or an input nobody thought of, would raise."""


def test_an_unforeseen_exception_costs_its_disk_only_and_keeps_its_last_value(
    tmp_path, meter, monkeypatch, caplog
):
    hit = images.create(tmp_path / "hit.qcow2", "qcow2", "10G")
    fine = images.create(tmp_path / "fine.qcow2", "qcow2", "3G")
    measured_hit, _ = meter.measure([file_disk(hit), file_disk(fine, target="vdc")])
    new = images.create(tmp_path / "new.qcow2", "qcow2", "5G")  # not seen before
    images.qemu_img("resize", "-q", hit, "20G")  # changed: its header is read again
    disks = [file_disk(hit), file_disk(new, target="vdb"), file_disk(fine, target="vdc")]

    def inspect(read):
        raise Unforeseen("a bug in the decoder")

    monkeypatch.setattr(disk.qcow2, "inspect", inspect)
    for _ in range(2):
        hit_usage, new_usage, fine_usage = meter.measure(disks)

    assert measured_hit.overcommit_bytes > 9 * 2**30
    assert hit_usage.overcommit_bytes == measured_hit.overcommit_bytes
    assert "Unforeseen: a bug in the decoder" in hit_usage.problem
    assert "kept from the last audit" in hit_usage.problem
    assert new_usage.overcommit_bytes == 0 and "never measured" in new_usage.problem
    assert fine_usage.overcommit_bytes == images.expected_overcommit(fine, "qcow2")
    assert len(warnings_in(caplog)) == 2  # one per disk, not one per audit


def test_a_file_replaced_between_stat_and_read_is_measured_as_the_file_read(
    tmp_path, meter, monkeypatch
):
    """The header read checks it opened the file it stat'ed; a swap is measured again."""
    path = images.create(tmp_path / "disk.qcow2", "qcow2", "10G")
    images.write(path, "0", "8M")
    replacement = images.create(tmp_path / "replacement.qcow2", "qcow2", "12G")
    os.link(path, tmp_path / "original.qcow2")
    real_stat = os.stat
    swaps = []

    def stat_then_swap(name, *args, **kwargs):
        result = real_stat(name, *args, **kwargs)
        if name == path and not swaps:  # the file changes right after its first stat
            swaps.append(name)
            os.replace(replacement, path)
        return result

    monkeypatch.setattr(disk.os, "stat", stat_then_swap)
    (usage,) = meter.measure([file_disk(path)])
    monkeypatch.undo()

    assert (usage.virtual_bytes, usage.allocated_bytes) == (12 * 2**30, images.allocated(path))
    os.replace(tmp_path / "original.qcow2", path)  # the first file is back, same inode
    (usage,) = meter.measure([file_disk(path)])
    assert (usage.virtual_bytes, usage.allocated_bytes) == (10 * 2**30, images.allocated(path))


TRANSIENT = ["EIO", "ENOMEM", "ETIMEDOUT", "EAGAIN", "EINTR", "ENFILE", "EMFILE", "EOVERFLOW"]


def failing(real, path: str, code: int):
    def call(name, *args, **kwargs):
        if os.fspath(name) == path:
            raise OSError(code, os.strerror(code), name)
        return real(name, *args, **kwargs)

    return call


@pytest.mark.parametrize("name", TRANSIENT)
@pytest.mark.parametrize("call", ["stat", "open"])
def test_a_transient_error_keeps_the_last_known_overcommit(
    tmp_path, meter, monkeypatch, caplog, name, call
):
    path = images.create(tmp_path / "disk.qcow2", "qcow2", "10G")
    (first,) = meter.measure([file_disk(path)])
    images.qemu_img("resize", "-q", path, "50G")  # so the header must be read again

    monkeypatch.setattr(disk.os, call, failing(getattr(os, call), path, getattr(errno, name)))
    (usage,) = meter.measure([file_disk(path)])

    assert usage.overcommit_bytes == first.overcommit_bytes > 0
    assert os.strerror(getattr(errno, name)) in usage.problem
    (warning,) = warnings_in(caplog)
    assert path in warning and f"kept from the last audit: {first.overcommit_bytes} B" in warning


@pytest.mark.parametrize("name", ["ENOENT", "ESTALE", "ENOTDIR", "ELOOP", "EACCES"])
def test_a_disk_that_is_gone_or_hidden_is_skipped(tmp_path, meter, monkeypatch, name):
    path = images.create(tmp_path / "disk.qcow2", "qcow2", "10G")
    meter.measure([file_disk(path)])

    monkeypatch.setattr(disk.os, "stat", failing(os.stat, path, getattr(errno, name)))

    assert meter.measure([file_disk(path)]) == ()


def test_a_transient_error_on_the_data_file_counts_the_most_the_header_allows(
    tmp_path, meter, monkeypatch
):
    data_file = str(tmp_path / "data.raw")
    path = images.create(tmp_path / "d.qcow2", "qcow2", "4G", "-o", f"data_file={data_file}")
    images.write(path, "0", "16M")

    monkeypatch.setattr(disk.os, "stat", failing(os.stat, data_file, errno.EIO))
    (usage,) = meter.measure([file_disk(path)])
    monkeypatch.undo()

    assert usage.overcommit_bytes == 4 * 2**30 - images.allocated(path)
    assert usage.overcommit_bytes > images.expected_overcommit(path, "qcow2")
    assert "Input/output error" in usage.problem and "most its header allows" in usage.problem


OUT_OF_DESCRIPTORS = """
import json, os, resource, sys
from resource_tracker.resources import DomainDisk
from resource_tracker.virt.disk import DiskMeter
path, replacement, never_seen = sys.argv[1:]
meter = DiskMeter(racy_window_ns=0)
def measure(*paths):
    disks = [DomainDisk("vm", f"vd{i}", "file", "disk", p, "qcow2") for i, p in enumerate(paths)]
    return [[u.overcommit_bytes, u.problem] for u in meter.measure(disks)]
print(json.dumps(measure(path)))
os.replace(replacement, path)  # a new file where the old one was: its header must be read
lowest_free = os.dup(0)
os.close(lowest_free)
hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
resource.setrlimit(resource.RLIMIT_NOFILE, (lowest_free, hard))
print(json.dumps(measure(path, never_seen)))
"""


def test_a_process_out_of_file_descriptors_keeps_what_it_knew(tmp_path):
    """EMFILE for real: the child's RLIMIT_NOFILE leaves it no descriptor for the header read."""
    path = images.create(tmp_path / "disk.qcow2", "qcow2", "50G")
    replacement = images.create(tmp_path / "replacement.qcow2", "qcow2", "50G")
    never_seen = images.create(tmp_path / "never-seen.qcow2", "qcow2", "7G")
    result = subprocess.run(
        [sys.executable, "-c", OUT_OF_DESCRIPTORS, path, replacement, never_seen],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    before, after = (json.loads(line) for line in result.stdout.splitlines())
    [[overcommit, problem]] = before
    assert problem is None and overcommit == 50 * 2**30 - images.allocated(path)
    [[kept, kept_problem], [unknown, unknown_problem]] = after
    assert kept == overcommit
    assert "Too many open files" in kept_problem and "kept from the last audit" in kept_problem
    assert unknown == 0 and "never measured" in unknown_problem
    assert "Too many open files" in result.stderr and "kept from the last audit" in result.stderr
