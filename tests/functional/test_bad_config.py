"""A config file either command cannot use: one line naming the option, exit 2, no traceback,
and the database password never in it. Each case is a file as an operator could write it."""

from __future__ import annotations

import pytest

from tests.functional.test_cli import assert_one_line_error, run

PASSWORD = "pässwörd-€"
LATIN_1_PASSWORD = "s3cret-pässwörd"  # one PyMySQL can send: the URL passes that check

CASES = {
    "bytes-not-utf-8": (
        b"[DEFAULT]\nhost = compute-\xff\xfe\n",
        "[DEFAULT] host: not UTF-8 text (byte 0xff) in {path} line 2",
    ),
    "interpolation-loop": (
        b"[DEFAULT]\nstate_path = $instances_path\ninstances_path = $state_path/i\n",
        "[DEFAULT] state_path: its $references loop back to it",
    ),
    "undefined-reference": (
        b"[DEFAULT]\nstate_path = $nowhere/rt\n",
        "[DEFAULT] state_path: $nowhere names no option",
    ),
    "listen-port-99999": (
        b"[metrics]\nlisten = 99999\n",
        "[metrics] listen: invalid value '99999' in {path}: port 99999 is not between 1 and 65535",
    ),
    "url-unparseable": (
        b"[database]\nconnection = tracker at db.example.org\n",
        "[database] connection: not a database URL",
    ),
    "url-port-not-a-number": (
        b"[database]\nconnection = mysql+pymysql://tracker@db:port/rt\n",
        "[database] connection: not a database URL",
    ),
    "url-port-99999": (
        b"[database]\nconnection = mysql+pymysql://tracker@db:99999/rt\n",
        "[database] connection: port 99999 is not between 1 and 65535",
    ),
    "unknown-driver": (
        b"[database]\nconnection = mysql+nodriver://tracker@db/rt\n",
        "[database] connection: database mysql+nodriver is not supported",
    ),
    "driver-not-installed": (
        b"[database]\nconnection = mysql://tracker@db/rt\n",
        "[database] connection: database mysql+mysqldb is not supported",
    ),
    "unsupported-database": (
        b"[database]\nconnection = postgresql+psycopg://tracker@db/rt\n",
        "[database] connection: database postgresql+psycopg is not supported",
    ),
    "password-not-latin-1": (
        f"[database]\nconnection = mysql+pymysql://tracker:{PASSWORD}@db/rt\n".encode(),
        "[database] connection: the password has characters PyMySQL cannot send",
    ),
    "url-parameter-the-driver-refuses": (
        "[database]\nconnection = "
        f"mysql+pymysql://u:{LATIN_1_PASSWORD}@127.0.0.1/db?connect_timeout=0\n".encode(),
        "[database] connection: the driver refuses the URL's parameters (connect_timeout): "
        "connect_timeout should be >0 and <=31536000",
    ),
    "url-parameter-unknown": (
        b"[database]\nconnection = mysql+pymysql://u:p@127.0.0.1/db?conect_timeout=3\n",
        "[database] connection: unknown parameter 'conect_timeout' (parameters: conect_timeout)",
    ),
    "url-charset-unknown": (
        b"[database]\nconnection = mysql+pymysql://u:p@127.0.0.1/db?charset=utf9\n",
        "[database] connection: the driver refuses the URL's parameters (charset): unknown "
        "charset 'utf9'",
    ),
    "sqlite-url-parameter-unknown": (
        b"[database]\nconnection = sqlite:////tmp/rt.sqlite?timeout=5&journal=wal\n",
        "[database] connection: unknown parameter 'journal' (parameters: timeout, journal)",
    ),
    "interval-99999999999": (
        b"[DEFAULT]\nupdate_resources_interval = 99999999999\n",
        "[DEFAULT] update_resources_interval: invalid value '99999999999' in {path}: "
        "must be from 1 to 86400",
    ),
    "reserved-memory-99999999999": (
        b"[DEFAULT]\nreserved_host_memory_mb = 99999999999\n",
        "[DEFAULT] reserved_host_memory_mb: invalid value '99999999999' in {path}: "
        "must be from 0 to 2147483647",
    ),
    "reserved-disk-negative": (
        b"[DEFAULT]\nreserved_host_disk_mb = -1\n",
        "[DEFAULT] reserved_host_disk_mb: invalid value '-1' in {path}: must be from 0 to",
    ),
    "ratio-nan": (
        b"[DEFAULT]\ncpu_allocation_ratio = nan\n",
        "[DEFAULT] cpu_allocation_ratio: invalid value 'nan' in {path}: not a number",
    ),
    "ratio-inf": (
        b"[DEFAULT]\nram_allocation_ratio = inf\n",
        "[DEFAULT] ram_allocation_ratio: invalid value 'inf' in {path}: must be from 0.0 to",
    ),
    "fuzzy-delay-a-day": (
        b"[DEFAULT]\nperiodic_fuzzy_delay = 86400\n",
        "[DEFAULT] periodic_fuzzy_delay: invalid value '86400' in {path}: must be from 0 to",
    ),
    "vcpu-pin-set-with-dedicated-set": (
        b"[DEFAULT]\nvcpu_pin_set = 0-3\n[compute]\ncpu_dedicated_set = 4-7\n",
        "[DEFAULT] vcpu_pin_set and [compute] cpu_dedicated_set are both set: vcpu_pin_set is "
        "deprecated and cannot be used with cpu_dedicated_set",
    ),
    "reserved-cpus-with-a-cpu-set": (
        b"[DEFAULT]\nreserved_host_cpus = 2\n[compute]\ncpu_shared_set = 0-3\n",
        "[DEFAULT] reserved_host_cpus cannot be set with [compute] cpu_shared_set or "
        "cpu_dedicated_set: unset reserved_host_cpus",
    ),
    "retries-1000": (
        b"[database]\ndb_max_retries = 1000\n",
        "[database] db_max_retries: invalid value '1000' in {path}: must be from 0 to 20",
    ),
}


def write(tmp_path, case: str):
    text, expected = CASES[case]
    path = tmp_path / "resource-tracker.conf"
    path.write_bytes(text)
    return str(path), expected.format(path=path)


@pytest.mark.parametrize("case", CASES)
def test_a_bad_config_stops_the_daemon_with_one_line_naming_the_option(tmp_path, case):
    path, expected = write(tmp_path, case)

    result = run("resource-tracker", "--config-file", path)

    assert result.returncode == 2, result.stderr
    assert_one_line_error(result, f"resource-tracker: {expected}")
    assert PASSWORD not in result.stderr and LATIN_1_PASSWORD not in result.stderr


@pytest.mark.parametrize(
    "case", ["bytes-not-utf-8", "password-not-latin-1", "url-parameter-the-driver-refuses"]
)
@pytest.mark.parametrize(
    "command",
    [
        ("resource-tracker", "--check-config"),
        ("resource-tracker", "--once"),
        ("resource-tracker-manage", "nodes", "list"),
    ],
    ids=["check-config", "once", "manage"],
)
def test_the_other_entries_say_the_same(tmp_path, case, command):
    path, expected = write(tmp_path, case)

    result = run(command[0], "--config-file", path, *command[1:])

    assert result.returncode == 2, result.stderr
    assert_one_line_error(result, f"{command[0]}: {expected}")
    assert PASSWORD not in result.stderr and LATIN_1_PASSWORD not in result.stderr


def test_a_libvirt_error_that_is_not_utf8_is_one_clear_line(config):
    """libvirt-python raises SystemError for such a message (here: a socket path with bytes
    0xff 0xfe, percent-encoded in the URI); it is HypervisorUnavailable, its bytes escaped."""
    conf = config(uri="qemu+unix:///system?socket=/nonexistent/%FF%FE-sock")
    assert run("resource-tracker-manage", "--config-file", conf, "db", "sync").returncode == 0

    result = run("resource-tracker", "--config-file", conf, "--once")

    assert result.returncode == 1
    assert_one_line_error(
        result,
        "resource-tracker: cannot connect to libvirt at qemu+unix:///system?socket=/nonexist",
        "Failed to connect socket to '/nonexistent/\\xff\\xfe-sock': No such file or directory",
    )
