"""The notify protocol on real sockets, and the unit file checked by systemd's own tools."""

from __future__ import annotations

import functools
import os
import re
import shutil
import socket
import subprocess
import tempfile

import pytest

from resource_tracker import modes, timeouts
from resource_tracker.daemon.systemd import Notifier
from tests.support.paths import ROOT

UNIT = os.path.join(ROOT, "etc", "systemd", "resource-tracker.service")


@pytest.fixture
def listener():
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.settimeout(2)
    yield sock
    sock.close()


def test_notify_sends_one_datagram(listener, tmp_path):
    listener.bind(str(tmp_path / "notify"))

    Notifier({"NOTIFY_SOCKET": str(tmp_path / "notify")}).notify("READY=1", "STATUS=up")

    assert listener.recv(4096) == b"READY=1\nSTATUS=up"


def test_a_value_cannot_add_a_field(listener, tmp_path):
    listener.bind(str(tmp_path / "notify"))

    Notifier({"NOTIFY_SOCKET": str(tmp_path / "notify")}).notify(
        "STATUS=audit failed: disk /i/a\nWATCHDOG=1\nREADY=1", "WATCHDOG=1"
    )

    assert (
        listener.recv(4096) == b"STATUS=audit failed: disk /i/a\\nWATCHDOG=1\\nREADY=1\nWATCHDOG=1"
    )


def test_notify_to_an_abstract_socket(listener):
    name = f"rt-test-{os.getpid()}"
    listener.bind("\0" + name)

    Notifier({"NOTIFY_SOCKET": "@" + name}).notify("WATCHDOG=1")

    assert listener.recv(4096) == b"WATCHDOG=1"


def test_without_notify_socket_nothing_happens():
    notifier = Notifier({})

    notifier.notify("READY=1")  # must not raise

    assert not notifier.enabled and notifier.watchdog_s is None


def test_watchdog_interval_is_for_this_process_only():
    mine = Notifier({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())})
    other = Notifier({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"})

    assert mine.watchdog_s == 30.0 and other.watchdog_s is None


def test_a_vanished_socket_is_not_an_error(tmp_path):
    Notifier({"NOTIFY_SOCKET": str(tmp_path / "gone")}).notify("READY=1")


@functools.cache
def why_systemd_analyze_cannot_work() -> str | None:
    """systemd-analyze needs more than its binary (as a user, a runtime directory under
    /run/systemd, which a container may not have): a unit known to be valid tells."""
    if shutil.which("systemd-analyze") is None:
        return "systemd-analyze is not installed"
    with tempfile.TemporaryDirectory() as directory:
        unit = os.path.join(directory, "known-good.service")
        with open(unit, "w") as file:
            file.write("[Service]\nExecStart=/bin/true\n")
        for check in (["verify"], ["security", "--offline=yes"]):
            probe = subprocess.run(
                ["systemd-analyze", *check, unit], capture_output=True, text=True
            )
            if probe.returncode != 0:
                return f"systemd-analyze {check[0]} fails here on a valid unit: {probe.stderr}"
    return None


@pytest.fixture
def verifiable_unit(tmp_path):
    if why := why_systemd_analyze_cannot_work():
        pytest.skip(f"{why.strip()}: the unit cannot be checked here")
    with open(UNIT) as unit:
        text = unit.read()
    path = tmp_path / "resource-tracker.service"
    # verify checks that ExecStart exists; the package may not be installed system-wide
    path.write_text(text.replace("/usr/local/bin/resource-tracker", "/bin/true"))
    return path


def test_unit_file_is_valid(verifiable_unit):
    result = subprocess.run(
        ["systemd-analyze", "verify", str(verifiable_unit)], capture_output=True, text=True
    )

    assert result.returncode == 0, result.stderr


def test_unit_file_is_hardened(verifiable_unit):
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", str(verifiable_unit)],
        capture_output=True,
        text=True,
    )

    exposure = float(re.search(r"Overall exposure level for .*: ([\d.]+)", result.stdout)[1])
    assert exposure <= 2.0, result.stdout


def unit_directives() -> list[tuple[str, str]]:
    with open(UNIT) as unit:
        return [
            tuple(line.split("=", 1))
            for line in unit.read().splitlines()
            if re.match(r"^\w+=", line)
        ]


def test_unit_file_speaks_the_protocol_the_daemon_implements():
    directives = dict(unit_directives())

    assert directives["Type"] == "notify"
    assert directives["Restart"] == "on-failure"
    # a configuration the daemon refuses exits 2 (resource_tracker.cmd.fail): no restart loop
    assert directives["RestartPreventExitStatus"] == "2"
    assert int(directives["WatchdogSec"]) == timeouts.WATCHDOG_S
    # every call the loop waits for is abandoned well before the watchdog would fire
    assert timeouts.CALL_DEADLINE_S <= timeouts.WATCHDOG_S / 2
    assert timeouts.START_CHECK_S < timeouts.CALL_DEADLINE_S
    # the report to Placement (after the row) ends inside the write half, a token fetch
    # from Keystone included
    assert timeouts.PLACEMENT_MARGIN_S > timeouts.PLACEMENT_CALL_S
    assert timeouts.PLACEMENT_BUDGET_S + timeouts.PLACEMENT_CALL_S < timeouts.CALL_DEADLINE_S


def test_unit_reload_checks_the_config_before_it_signals():
    reloads = [value for name, value in unit_directives() if name == "ExecReload"]

    assert reloads == [
        "/usr/local/bin/resource-tracker --config-file ${CONFIG} --check-config",
        "/bin/kill -HUP $MAINPID",
    ]


def test_unit_state_modes_agree_with_the_daemons():
    directives = dict(unit_directives())
    umask = int(directives["UMask"], 8)

    assert int(directives["StateDirectoryMode"], 8) == modes.DIRECTORY_MODE
    # what anything else the service creates gets: the daemon's own modes, never others' bits
    assert 0o666 & ~umask == modes.FILE_MODE
    assert 0o777 & ~umask == modes.DIRECTORY_MODE
