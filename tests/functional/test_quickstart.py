"""The README's quick start, as a newcomer runs it: from a clean clone of this repository.

The clone holds what is committed (HEAD), which is what CI and a newcomer get.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
from contextlib import closing

import pytest

from tests.support import images
from tests.support.paths import ROOT

GiB = 2**30


def quick_start_commands() -> list[str]:
    with open(os.path.join(ROOT, "README.md")) as readme:
        text = readme.read()
    section = text.split("## Quick start", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    return [line for line in block.splitlines() if line.strip() and not line.startswith("#")]


def test_quick_start_has_two_commands_and_ci_runs_the_second():
    commands = quick_start_commands()

    assert len(commands) == 2
    with open(os.path.join(ROOT, ".ci/run")) as ci:
        assert f"exec {commands[1]}" in ci.read()


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    if not os.path.exists(os.path.join(ROOT, ".git")):  # a directory, or a worktree's file
        pytest.skip("not a git checkout: nothing to clone")
    path = tmp_path_factory.mktemp("quickstart") / "resource-tracker"
    subprocess.run(["git", "clone", "-q", ROOT, str(path)], check=True)
    return path


def test_first_command_audits_the_sample_host_into_sqlite(clone):
    instances = clone / ".demo" / "instances"
    demo_disks = ["web-01/disk", "db-01/disk", "db-01/disk.data", "batch-01/disk"]

    result = subprocess.run(
        ["bash", "-c", quick_start_commands()[0]],
        cwd=clone,
        capture_output=True,
        text=True,
        timeout=900,
    )
    after = os.statvfs(instances)

    assert result.returncode == 0, result.stderr
    # every domain holds its vCPUs and memory, the shut-off batch-01 too, and the reserve
    assert "demo-host: vCPUs 16/16 used, free RAM 32256 MiB" in result.stdout
    assert "4 VMs (3 running)" in result.stdout
    assert re.search(r"^host\s+demo-host$", result.stdout, re.M)  # nodes show printed the row
    overcommit = sum(images.expected_overcommit(instances / disk) for disk in demo_disks)
    with closing(sqlite3.connect(clone / ".demo" / "resource_tracker.sqlite")) as db:
        least, local_gb, running = db.execute(
            "SELECT disk_available_least, local_gb, running_vms FROM compute_nodes"
            " WHERE host = 'demo-host' AND deleted = 0"
        ).fetchone()
    assert local_gb == after.f_frsize * after.f_blocks // GiB
    assert running == 4  # Nova's running_vms: every instance on the host
    # The file system may have moved a little since the audit: within one GiB of now.
    assert abs(least - (after.f_frsize * after.f_bavail - overcommit) // GiB) <= 1
