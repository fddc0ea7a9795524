"""What a hostile domain makes the daemon write into the journal: one entry per record."""

from __future__ import annotations

import re

from tests.functional.test_cli import run
from tests.support import hosts, images
from tests.support.libvirtd import domain_xml

LONG = "/nonexistent/" + "x" * 1_000_000
FORGED = b"d\n<3>forged ERROR entry"


def image_naming_a_forged_data_file(directory) -> str:
    """A qcow2 (qemu-img's) whose header names an external data file "d\n<3>forged ...":
    QEMU takes any bytes there; the name is written over the one qemu-img stored."""
    placeholder = b"d" * len(FORGED)
    path = images.create(
        directory / "guest.qcow2", "qcow2", "1G", "-o", f"data_file={placeholder.decode()}"
    )
    with open(path, "r+b") as image:
        head = image.read(65536)
        image.seek(head.index(placeholder))
        image.write(FORGED)
    return path


def test_disk_names_cannot_forge_or_flood_journal_entries(tmp_path, config, monkeypatch):
    monkeypatch.chdir(tmp_path)  # qemu-img makes the placeholder data file here
    disk = image_naming_a_forged_data_file(tmp_path)
    uri = hosts.write(
        tmp_path, [domain_xml("guest", [(disk, "qcow2"), (LONG, "raw")], virt_type="test")]
    )
    conf = config(uri=uri)
    assert run("resource-tracker-manage", "--config-file", conf, "db", "sync").returncode == 0
    monkeypatch.setenv("JOURNAL_STREAM", "8:1234")

    result = run("resource-tracker", "--config-file", conf, "--once")

    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 2, lines  # one warning per skipped disk, one line each
    assert all(re.match(r"<4>WARNING resource_tracker\.virt\.disk: ", line) for line in lines)
    assert "data file " + str(tmp_path) + "/d\\n<3>forged ERROR entry: No such file" in lines[0]
    assert len(lines[1]) < 8100 and lines[1].endswith("xxxx: File name too long")
