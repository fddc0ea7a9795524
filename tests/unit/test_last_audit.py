"""The per-disk breakdown a daemon keeps for `nodes show`."""

from __future__ import annotations

import logging
import os

from resource_tracker.last_audit import LastAuditFile
from resource_tracker.resources import (
    CpuInfo,
    CpuTopology,
    DiskUsage,
    HostResources,
    LocalStorage,
)

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
)


def test_round_trip(tmp_path):
    record = LastAuditFile(str(tmp_path / "last-audit.json"))

    record.write("compute-1", RESOURCES)
    read = record.read("compute-1")

    assert read["hypervisor_hostname"] == "hv-1"
    assert (read["free_bytes"], read["overcommit_bytes"]) == (60, 20)
    assert read["disks"][0]["path"] == "/i/vm/disk"
    assert read["disks"][0]["overcommit_bytes"] == 20
    assert os.listdir(tmp_path) == ["last-audit.json"]  # the temporary file was renamed


def test_another_hosts_record_is_not_shown(tmp_path):
    record = LastAuditFile(str(tmp_path / "last-audit.json"))
    record.write("compute-1", RESOURCES)

    assert record.read("compute-2") is None


def test_missing_or_corrupt_file_reads_as_none(tmp_path):
    path = tmp_path / "last-audit.json"
    assert LastAuditFile(str(path)).read("compute-1") is None
    path.write_text("{not json")
    assert LastAuditFile(str(path)).read("compute-1") is None


def test_an_unwritable_directory_warns_once(tmp_path, caplog):
    record = LastAuditFile(str(tmp_path / "missing" / "last-audit.json"))

    with caplog.at_level(logging.WARNING):
        record.write("compute-1", RESOURCES)
        record.write("compute-1", RESOURCES)

    (warning,) = caplog.records
    assert "cannot record the last audit" in warning.getMessage()
