"""The privilege model of the systemd unit: an unprivileged user plus CAP_DAC_READ_SEARCH.

Running guests' qcow2 files are 0600 and owned by libvirt-qemu; the daemon must read their
headers without being root. Here `nobody` plays the service user and a root-owned 0600
image plays a running guest's disk.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile

import pytest

from tests.support import hosts, images, nobody
from tests.support.paths import BIN

CAPABILITY = ["--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search"]


@pytest.fixture
def private_disk_host():
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run the daemon as another user")
    base = tempfile.mkdtemp(prefix="rt-privileges-")
    os.chmod(base, 0o755)
    disk = images.create(os.path.join(base, "instances", "guest.qcow2"), "qcow2", "5G")
    os.chmod(disk, 0o600)
    uri = hosts.render("one-disk.xml", base, DISK=disk)
    state = os.path.join(base, "state")
    os.mkdir(state)
    os.chown(state, 65534, 65534)
    conf = os.path.join(base, "resource-tracker.conf")
    with open(conf, "w") as config:
        config.write(
            f"[DEFAULT]\nhost = guarded\nstate_path = {state}\n"
            f"instances_path = {base}/instances\n[libvirt]\nconnection_uri = {uri}\n"
        )
    yield conf, disk
    shutil.rmtree(base)


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
    return int(re.search(r"disk_available_least (-?\d+) GB", result.stdout)[1])


def test_the_capability_is_what_lets_private_images_be_measured(private_disk_host):
    conf, disk = private_disk_host

    without = run_as_nobody(conf)
    with_capability = run_as_nobody(conf, *CAPABILITY)

    assert without.returncode == with_capability.returncode == 0, without.stderr
    assert f"disk {disk}: cannot read its header: Permission denied" in without.stderr
    assert "WARNING" not in with_capability.stderr
    # the 5 GiB image's over-commit is counted only when its header could be read
    assert least_gb(without) - least_gb(with_capability) in (4, 5)
