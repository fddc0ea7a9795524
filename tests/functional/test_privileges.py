"""The privilege model of the systemd unit: an unprivileged user plus CAP_DAC_READ_SEARCH.

Running guests' qcow2 files are 0600 and owned by libvirt-qemu; the daemon must read their
headers without being root. Here `nobody` plays the service user and a root-owned 0600
image plays a running guest's disk.
"""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from tests.support import nobody
from tests.support.paths import BIN

CAPABILITY = ["--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search"]


@pytest.fixture
def private_disk_host():
    with nobody.guarded_host("rt-privileges-", "5G", state_path="") as host:
        os.chmod(host.disk, 0o600)
        yield host.conf, host.disk


def run_as_nobody(conf: str, *setpriv_options: str) -> subprocess.CompletedProcess:
    def run(command: str, *args: str) -> subprocess.CompletedProcess:
        argv = [os.path.join(BIN, command), "--config-file", conf, *args]
        return subprocess.run(
            nobody.command(argv, *setpriv_options), capture_output=True, text=True
        )

    synced = run("resource-tracker-manage", "db", "sync")
    assert synced.returncode == 0, synced.stderr
    return run("resource-tracker", "--once")


def least_gb(result: subprocess.CompletedProcess) -> int:
    return int(re.search(r"disk_available_least (-?\d+) GiB", result.stdout)[1])


def test_the_capability_is_what_lets_private_images_be_measured(private_disk_host):
    conf, disk = private_disk_host

    without = run_as_nobody(conf)
    with_capability = run_as_nobody(conf, *CAPABILITY)

    assert without.returncode == with_capability.returncode == 0, without.stderr
    assert f"disk {disk}: cannot read its header: Permission denied" in without.stderr
    assert "WARNING" not in with_capability.stderr
    # the 5 GiB image's over-commit is counted only when its header could be read
    assert least_gb(without) - least_gb(with_capability) in (4, 5)
