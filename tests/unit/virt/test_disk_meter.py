"""A DiskMeter audit after audit: what it reads again, what it forgets, what it warns of."""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import stat
import subprocess
import sys
import tempfile

import pytest

from resource_tracker.resources import DomainDisk
from resource_tracker.virt import disk
from tests.support import images, nobody
from tests.support.opens import OpenWatch
from tests.support.paths import ROOT
from tests.unit.virt.test_disk import file_disk


@pytest.fixture
def meter():
    return disk.DiskMeter(racy_window_ns=0)


@pytest.fixture
def opens():
    watch = OpenWatch()
    yield watch
    watch.close()


def warnings_in(caplog) -> list[str]:
    found = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    caplog.clear()
    return found


def test_unchanged_header_is_not_read_again(tmp_path, meter, opens):
    path = images.create(tmp_path / "a.qcow2", "qcow2", "10G")
    opens.add(path)

    first = meter.measure([file_disk(path)])
    assert opens.opened() == {path}
    second = meter.measure([file_disk(path)])

    assert opens.opened() == set()
    assert second == first


def test_header_of_a_just_changed_file_is_read_until_it_settles(tmp_path, opens):
    """A change within the time stamps' tick could hide another: such a read is not kept."""
    path = images.create(tmp_path / "a.qcow2", "qcow2", "10G")
    opens.add(path)
    meter = disk.DiskMeter()  # the default window: the file changed a moment ago

    meter.measure([file_disk(path)])
    opens.opened()
    meter.measure([file_disk(path)])

    assert opens.opened() == {path}


def test_changed_header_is_read_again(tmp_path, meter):
    path = images.create(tmp_path / "a.qcow2", "qcow2", "10G")
    meter.measure([file_disk(path)])

    images.qemu_img("resize", "-q", path, "15G")
    (usage,) = meter.measure([file_disk(path)])

    assert usage.virtual_bytes == images.info(path)["virtual-size"] == 15 * 2**30


def test_file_replaced_by_another_is_read_again(tmp_path, meter):
    path = images.create(tmp_path / "a.qcow2", "qcow2", "10G")
    other = images.create(tmp_path / "b.qcow2", "qcow2", "12G")
    meter.measure([file_disk(path)])

    os.replace(other, path)
    (usage,) = meter.measure([file_disk(path)])

    assert usage.virtual_bytes == 12 * 2**30


def test_a_disk_described_otherwise_is_counted_as_described(tmp_path, meter):
    """The same file, unchanged, now another domain's disk, with another format."""
    path = images.create(tmp_path / "a.qcow2", "qcow2", "10G")
    meter.measure([file_disk(path)])

    (usage,) = meter.measure([file_disk(path, "raw", domain="other", target="vdb")])

    assert (usage.domain, usage.target, usage.format) == ("other", "vdb", "raw")
    assert usage.virtual_bytes == os.stat(path).st_size


@pytest.mark.parametrize("change", [{"size": 512}, {"blocks": 8}])
def test_a_disk_whose_size_or_blocks_alone_changed_is_measured_again(
    tmp_path, meter, monkeypatch, change
):
    """Within one tick of the time stamps a write may leave them as they were: which stat
    fields change cannot be chosen for real, so os.stat changes the size or blocks alone."""
    path = images.create(tmp_path / "a.raw", "raw", "1G")
    (first,) = meter.measure([file_disk(path, "raw")])

    monkeypatch.setattr(disk.os, "stat", stat_changed(os.stat, path, **change))
    (usage,) = meter.measure([file_disk(path, "raw")])

    assert usage.virtual_bytes == first.virtual_bytes + change.get("size", 0)
    assert usage.allocated_bytes == first.allocated_bytes + change.get("blocks", 0) * 512


VISIBLE_STAT_FIELDS = ("st_mode", "st_ino", "st_dev", "st_nlink", "st_uid", "st_gid", "st_size")


def stat_changed(real, path: str, size: int = 0, blocks: int = 0):
    """os.stat, with `size` bytes and `blocks` sectors more for `path`, nothing else changed."""

    def call(name, *args, **kwargs):
        st = real(name, *args, **kwargs)
        if os.fspath(name) != path:
            return st
        visible = list(st)
        visible[stat.ST_SIZE] += size
        hidden = {
            field: getattr(st, field)
            for field in dir(st)
            if field.startswith("st_") and field not in VISIBLE_STAT_FIELDS
        }  # Python 3.13 refuses a field given twice
        hidden["st_blocks"] += blocks
        return os.stat_result(visible, hidden)

    return call


def test_disks_no_longer_attached_are_forgotten(tmp_path, meter, opens):
    kept = images.create(tmp_path / "kept.qcow2", "qcow2", "1G")
    dropped = images.create(tmp_path / "dropped.qcow2", "qcow2", "1G")
    opens.add(dropped)
    meter.measure([file_disk(kept), file_disk(dropped, target="vdb")])
    meter.measure([file_disk(kept)])
    opens.opened()

    meter.measure([file_disk(kept), file_disk(dropped, target="vdb")])

    assert opens.opened() == {dropped}  # not remembered: read again


def test_refused_header_is_warned_of_once_per_change(tmp_path, meter, caplog):
    path = tmp_path / "broken.qcow2"
    good = images.create(tmp_path / "good.qcow2", "qcow2", "1G")
    path.write_bytes(b"QFI\xfb" + b"\x00" * 20)
    caplog.set_level(logging.DEBUG, logger=disk.LOG.name)

    for _ in range(3):
        (usage,) = meter.measure([file_disk(path)])
        assert (usage.virtual_bytes, usage.overcommit_bytes) == (None, 0)
        assert "truncated" in usage.problem
    assert len(warnings_in(caplog)) == 1

    path.write_bytes(b"QFI\xfb\x00\x00\x00\x07" + b"\x00" * 100)  # another defect
    meter.measure([file_disk(path)])
    meter.measure([file_disk(path)])
    (warning,) = warnings_in(caplog)
    assert "broken.qcow2" in warning and "version 7" in warning

    shutil.copyfile(good, path)
    meter.measure([file_disk(path)])
    assert warnings_in(caplog) == []

    path.write_bytes(b"QFI\xfb\x00\x00\x00\x07" + b"\x00" * 100)  # back again: told again
    meter.measure([file_disk(path)])
    assert len(warnings_in(caplog)) == 1


def test_vanished_disk_is_skipped_with_one_log_line(tmp_path, meter, caplog):
    kept = images.create(tmp_path / "kept.qcow2", "qcow2", "1G")
    gone = images.create(tmp_path / "gone.qcow2", "qcow2", "1G")
    disks = [file_disk(gone, target="vdb"), file_disk(kept)]
    meter.measure(disks)
    os.unlink(gone)

    usages = meter.measure(disks)
    meter.measure(disks)  # still gone: not warned of again

    assert [usage.path for usage in usages] == [kept]
    (warning,) = warnings_in(caplog)
    assert "gone.qcow2" in warning and "vdb" in warning and "No such file" in warning


def test_disk_deleted_mid_audit_is_skipped(tmp_path, meter, caplog):
    first = images.create(tmp_path / "first.qcow2", "qcow2", "1G")
    second = images.create(tmp_path / "second.qcow2", "qcow2", "2G")

    def listed_disks():
        yield file_disk(first)
        os.unlink(second)  # after the audit began, before it reached the disk
        yield file_disk(second, target="vdb")

    usages = meter.measure(listed_disks())

    assert [usage.path for usage in usages] == [first]
    (warning,) = warnings_in(caplog)
    assert "second.qcow2" in warning


def test_stale_nfs_handle_is_skipped(tmp_path, meter, caplog, monkeypatch):
    """ESTALE needs an NFS server that lost the file: the one fault injected here."""
    kept = images.create(tmp_path / "kept.qcow2", "qcow2", "1G")
    stale = str(tmp_path / "stale.qcow2")
    real_stat = os.stat

    def stat(path, *args, **kwargs):
        if path == stale:
            raise OSError(errno.ESTALE, os.strerror(errno.ESTALE), path)
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(disk.os, "stat", stat)
    usages = meter.measure([file_disk(stale, target="vdb"), file_disk(kept)])

    assert [usage.path for usage in usages] == [kept]
    (warning,) = warnings_in(caplog)
    assert "stale.qcow2" in warning and "Stale file handle" in warning


MEASURE_AS_USER = """
import json, sys
from resource_tracker.resources import DomainDisk
from resource_tracker.virt.disk import DiskMeter
disks = [DomainDisk("vm", f"vd{i}", "file", "disk", p, "raw") for i, p in enumerate(sys.argv[1:])]
print(json.dumps([usage.path for usage in DiskMeter().measure(disks)]))
"""


def test_disk_the_daemon_may_not_read_is_skipped(tmp_path):
    """EACCES, for real: the meter runs as a user without access to one directory."""
    base = tempfile.mkdtemp(prefix="rt-eacces-")
    try:
        os.chmod(base, 0o755)
        readable = images.create(os.path.join(base, "open", "a.raw"), "raw", "1G")
        hidden = images.create(os.path.join(base, "closed", "b.raw"), "raw", "1G")
        os.chmod(os.path.dirname(readable), 0o755)
        os.chmod(readable, 0o644)
        os.chmod(os.path.dirname(hidden), 0o700)
        command = [sys.executable, "-c", MEASURE_AS_USER, hidden, readable]
        if os.geteuid() == 0:
            command = nobody.command(command)
        else:
            os.chmod(os.path.dirname(hidden), 0)

        result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
    finally:
        os.chmod(base, 0o700)
        for directory in ("open", "closed"):
            os.chmod(os.path.join(base, directory), 0o700)
        shutil.rmtree(base)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [readable]
    (line,) = result.stderr.splitlines()
    assert "b.raw" in line and "Permission denied" in line


def test_each_file_is_noted_before_it_is_read_and_nothing_else_is(tmp_path, meter):
    """What a hung audit says it waits on: the file disk being read, not a disk that is no
    file or names none, nor a file counted already."""
    path = images.create(tmp_path / "a.qcow2", "qcow2", "1G")
    noted = []
    disks = [
        file_disk(path),
        DomainDisk("vm", "vdb", "network", "disk", None, "raw"),
        DomainDisk("vm", "hdc", "file", "cdrom", None, None),
        DomainDisk("vm", "vdc", "block", "disk", "/dev/null", "raw"),
        file_disk(path, domain="other"),  # the same file again
    ]

    meter.measure(disks, lambda what, subject: noted.append((what, subject)))

    assert noted == [("reading disk", path)]
