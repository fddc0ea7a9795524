"""The per-disk breakdown a daemon keeps for `nodes show`."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import re
import shutil
import subprocess
import sys
from datetime import datetime

import pytest

from resource_tracker.audit.last_audit import LastAudit, LastAuditFile, Unreadable
from resource_tracker.resources import (
    CpuInfo,
    CpuTopology,
    DiskUsage,
    HostResources,
    LocalStorage,
)
from tests.support.devices import skip_unless_root
from tests.support.paths import ROOT

RESOURCES = HostResources(
    hypervisor_hostname="hv-1",
    hypervisor_type="QEMU",
    hypervisor_version=7002000,
    cpu_info=CpuInfo("x86_64", None, None, CpuTopology(1, 2, 1, 1), ()),
    vcpus=2,
    vcpus_used=1,
    memory_total_bytes=2**30,
    memory_used_bytes=0,
    running_vms=1,
    busy_vms=0,
    storage=LocalStorage(total_bytes=100, free_bytes=60, used_bytes=40),
    disks=(DiskUsage("vm", "vda", "/i/vm/disk", "qcow2", 30, 10, 20),),
    vcpus_held=1,
    memory_held_bytes=0,
)


def test_round_trip(tmp_path):
    record = LastAuditFile(str(tmp_path / "last-audit.json"))

    record.write("compute-1", RESOURCES)
    read = record.read("compute-1")

    assert read.hypervisor_hostname == "hv-1"
    assert (read.free_bytes, read.overcommit_bytes) == (60, 20)
    assert read.disks[0].path == "/i/vm/disk"
    assert read.disks[0].overcommit_bytes == 20
    assert read.disks == RESOURCES.disks
    assert os.listdir(tmp_path) == ["last-audit.json"]  # the temporary file was renamed


def test_another_hosts_record_is_not_shown(tmp_path):
    record = LastAuditFile(str(tmp_path / "last-audit.json"))
    record.write("compute-1", RESOURCES)

    assert record.read("compute-2") is None


def test_a_missing_file_reads_as_none(tmp_path):
    assert LastAuditFile(str(tmp_path / "last-audit.json")).read("compute-1") is None


def test_a_file_that_cannot_be_read_says_why(tmp_path):
    """Not "no breakdown recorded": the operator must learn the file is there."""
    corrupt, directory = tmp_path / "corrupt.json", tmp_path / "directory.json"
    corrupt.write_text("{not json")
    directory.mkdir()

    with pytest.raises(Unreadable, match=r"corrupt.json is not a last-audit record"):
        LastAuditFile(str(corrupt)).read("compute-1")
    with pytest.raises(Unreadable, match=r"cannot read .*directory.json: Is a directory"):
        LastAuditFile(str(directory)).read("compute-1")


def test_the_file_keeps_its_json_format(tmp_path):
    """Files written before the record existed read the same: the format did not change,
    only keys were added (which older readers ignore)."""
    path = tmp_path / "last-audit.json"
    LastAuditFile(str(path)).write("compute-1", RESOURCES)

    written = json.loads(path.read_text())

    assert list(written) == [
        "host", "hypervisor_hostname", "audited_at", "free_bytes", "overcommit_bytes", "disks",
        "flavors", "domains_without_flavor",
    ]  # fmt: skip
    assert written["disks"] == [{
        "domain": "vm", "target": "vda", "path": "/i/vm/disk", "format": "qcow2",
        "virtual_bytes": 30, "allocated_bytes": 10, "overcommit_bytes": 20,
        "data_file": None, "problem": None,
    }]  # fmt: skip
    assert datetime.fromisoformat(written["audited_at"]).utcoffset() is not None
    assert LastAudit.from_json(written).as_json() == written


def test_a_disk_without_the_later_fields_reads_with_their_defaults(tmp_path):
    path = tmp_path / "last-audit.json"
    LastAuditFile(str(path)).write("compute-1", RESOURCES)
    older = json.loads(path.read_text())
    for disk in older["disks"]:
        del disk["data_file"], disk["problem"]
    path.write_text(json.dumps(older))

    (disk,) = LastAuditFile(str(path)).read("compute-1").disks

    assert (disk.data_file, disk.problem, disk.overcommit_bytes) == (None, None, 20)


def test_a_record_without_a_field_says_which(tmp_path):
    path = tmp_path / "last-audit.json"
    path.write_text(json.dumps({"host": "compute-1", "hypervisor_hostname": "hv-1"}))

    with pytest.raises(Unreadable, match=r"last-audit.json is not a last-audit record: no "):
        LastAuditFile(str(path)).read("compute-1")


@pytest.fixture
def full_tmpfs(tmp_path):
    """A 256 KiB tmpfs of the test's own, filled but for a few bytes (needs root)."""
    skip_unless_root("mounting a tmpfs")
    mount = tmp_path / "full"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "rt-test", mount], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", mount], check=True)


def test_a_write_to_a_full_disk_leaves_no_temporary_file_and_the_old_record(full_tmpfs, caplog):
    record = LastAuditFile(str(full_tmpfs / "last-audit.json"))
    record.write("compute-1", RESOURCES)
    with open(full_tmpfs / "filler", "wb", buffering=0) as filler, contextlib.suppress(OSError):
        while True:
            filler.write(b"x" * 512)
    bigger = dataclasses.replace(RESOURCES, disks=RESOURCES.disks * 200)

    with caplog.at_level(logging.WARNING):
        for _ in range(8):
            record.write("compute-1", bigger)

    assert sorted(os.listdir(full_tmpfs)) == ["filler", "last-audit.json"]
    assert len(record.read("compute-1").disks) == 1  # the old record, whole
    (warning,) = caplog.records
    assert "No space left on device" in warning.getMessage()


TRACED = "openat,fsync,fdatasync,rename,renameat,renameat2"
WRITE_UNDER_STRACE = """
import sys
from resource_tracker.audit.last_audit import LastAuditFile
from tests.unit.audit.test_last_audit import RESOURCES
LastAuditFile(sys.argv[1]).write("compute-1", RESOURCES)
"""


def test_the_record_reaches_the_disk_before_it_replaces_the_old_one(tmp_path):
    """fsync the file, rename it over the old one, fsync the directory: seen by strace."""
    if shutil.which("strace") is None:
        pytest.skip("strace not found: run tools/setup.sh --test")
    trace = tmp_path / "trace"
    path = tmp_path / "last-audit.json"
    subprocess.run(
        ["strace", "-f", "-o", trace, "-e", f"trace={TRACED}",
         sys.executable, "-c", WRITE_UNDER_STRACE, path],
        check=True, cwd=ROOT, capture_output=True,
    )  # fmt: skip

    calls = [line.split(None, 1)[1] for line in trace.read_text().splitlines()]
    opened = {}
    steps = []
    for call in calls:
        if call.startswith("openat(") and f"{tmp_path}" in call and "= " in call:
            name, fd = re.search(r'"([^"]+)".*= (\d+)$', call).groups()
            opened[fd] = name
        elif call.startswith(("fsync(", "fdatasync(")):
            steps.append(("fsync", opened.get(re.search(r"\((\d+)", call)[1])))
        elif call.startswith("rename") and str(path) in call:
            steps.append(("rename", re.findall(r'"([^"]+)"', call)[0]))
    temporary = next(name for kind, name in steps if kind == "rename")
    assert steps == [("fsync", temporary), ("rename", temporary), ("fsync", str(tmp_path))]


def test_an_unwritable_directory_warns_once(tmp_path, caplog):
    record = LastAuditFile(str(tmp_path / "missing" / "last-audit.json"))

    with caplog.at_level(logging.WARNING):
        record.write("compute-1", RESOURCES)
        record.write("compute-1", RESOURCES)

    (warning,) = caplog.records
    assert "cannot record the last audit" in warning.getMessage()


def test_an_unchanged_audit_rewrites_nothing_but_moves_the_time(tmp_path):
    path = tmp_path / "last-audit.json"
    record = LastAuditFile(str(path))
    record.write("compute-1", RESOURCES)
    written = json.loads(path.read_text())
    with open(path, "w") as file:  # the same inode, as if written in 2020
        json.dump({**written, "audited_at": "2020-01-01T00:00:00+00:00"}, file)
    os.utime(path, (0, datetime(2020, 1, 1).timestamp()))
    inode = os.stat(path).st_ino
    same = dataclasses.replace(RESOURCES, disks=tuple(map(dataclasses.replace, RESOURCES.disks)))

    record.write("compute-1", same)
    touched = record.read("compute-1")

    assert (record.writes, record.touches) == (1, 1)
    assert os.stat(path).st_ino == inode  # not replaced
    assert touched.audited_at.year > 2020 and touched.disks == RESOURCES.disks


def test_a_changed_disk_or_free_space_is_written(tmp_path):
    record = LastAuditFile(str(tmp_path / "last-audit.json"))
    record.write("compute-1", RESOURCES)
    grown = DiskUsage("vm", "vda", "/i/vm/disk", "qcow2", 30, 12, 18)

    record.write("compute-1", dataclasses.replace(RESOURCES, disks=(grown,)))
    record.write(
        "compute-1",
        dataclasses.replace(RESOURCES, disks=(grown,), storage=LocalStorage(100, 58, 42)),
    )

    assert (record.writes, record.touches) == (3, 0)
    assert record.read("compute-1").disks == (grown,)
    assert record.read("compute-1").free_bytes == 58


def test_a_file_removed_behind_its_back_is_written_again(tmp_path):
    path = tmp_path / "last-audit.json"
    record = LastAuditFile(str(path))
    record.write("compute-1", RESOURCES)
    path.unlink()

    record.write("compute-1", RESOURCES)

    assert record.writes == 2 and record.read("compute-1").disks == RESOURCES.disks
