"""The daemon as systemd runs it: a real process, its signals, its notify messages."""

from __future__ import annotations

import itertools
import os
import re
import resource
import signal
import socket
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
from contextlib import closing

import pytest
from prometheus_client.parser import text_string_to_metric_families

from resource_tracker import version
from resource_tracker.db import schema
from tests.support.daemon import Daemon
from tests.support.libvirtd import Libvirtd, domain_xml
from tests.support.mariadb import free_port
from tests.support.notify import NotifyListener
from tests.support.paths import BIN
from tests.support.waiting import wait_for
from tests.unit.daemon.test_systemd import unit_directives

AUDITED = r"audit: compute-1: vCPUs 15/12 used"
AUDITED_ANY = r"audit: compute-1: vCPUs"


@pytest.fixture
def synced(config):
    """A config for the mixed host whose SQLite schema exists; returns the config writer."""
    path = config()
    manage = os.path.join(BIN, "resource-tracker-manage")
    subprocess.run([manage, "--config-file", path, "db", "sync"], check=True, capture_output=True)
    return config


@pytest.fixture
def daemons():
    started = []

    def start(config_path: str, env: dict[str, str] | None = None) -> Daemon:
        daemon = Daemon(config_path, env)
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.stop()


def row(sqlite_url: str, column: str):
    with closing(sqlite3.connect(sqlite_url.removeprefix("sqlite:///"))) as db:
        return db.execute(f"SELECT {column} FROM compute_nodes WHERE deleted = 0").fetchone()[0]


def report_count(sqlite_url: str) -> int:
    with closing(sqlite3.connect(sqlite_url.removeprefix("sqlite:///"))) as db:
        found = db.execute("SELECT report_count FROM services").fetchone()
    return found[0] if found else 0


FREE_SPACE_COLUMNS = {"disk_available_least", "free_disk_gb", "local_gb_used"}


EVERY_AUDIT_BEATS = "report_interval = 0"  # report_count counts the audits


def test_audits_every_interval(synced, daemons, sqlite_url):
    daemon = daemons(synced(extra=f"update_resources_interval = 1\n{EVERY_AUDIT_BEATS}"))

    assert wait_for(lambda: report_count(sqlite_url) >= 3, timeout_s=30), daemon.log
    assert daemon.process.poll() is None
    # written once, unchanged afterwards; but for free space, where the instances directory
    # is on a file system others write to (not root: no private tmpfs, tests/support/quiet_fs)
    changed = re.findall(r"row updated: (.*)", daemon.log)
    moved = {column for line in changed for column in re.findall(r"(\w+) \S+ -> ", line)}
    assert moved <= FREE_SPACE_COLUMNS, daemon.log
    assert daemon.count(r"row updated") == 1 + len(changed), daemon.log
    # the first audit is one INFO line; those that changed nothing are DEBUG (not shown)
    assert daemon.count(AUDITED) == 1 + len(changed)
    assert daemon.count(r"INFO .*row unchanged") == 0


def set_schema_revision(sqlite_url: str, revision: str) -> None:
    with closing(sqlite3.connect(sqlite_url.removeprefix("sqlite:///"))) as db, db:
        db.execute(f"UPDATE {schema.REVISION_TABLE} SET version_num = ?", (revision,))
        db.execute(f"DELETE FROM {schema.VERSION_TABLE}")
        db.execute(f"INSERT INTO {schema.VERSION_TABLE} VALUES (?)", (revision,))


def test_a_schema_moved_on_under_the_daemon_is_never_written(synced, daemons, sqlite_url):
    daemon = daemons(synced(extra="update_resources_interval = 1"))
    assert daemon.wait_for_log(AUDITED)

    set_schema_revision(sqlite_url, "9999")  # a newer release's db sync, while we run
    assert daemon.wait_for_log(r"WARNING .*audit failed: database .* revision 9999, which this"), (
        daemon.log
    )
    beats = report_count(sqlite_url)
    time.sleep(4)  # failed audits at +1 s and +3 s (backoff), logged at debug
    assert report_count(sqlite_url) == beats  # not even the heartbeat was written
    set_schema_revision(sqlite_url, schema.head())

    assert daemon.wait_for_log(r"audit succeeded after [2-9] failed attempt", timeout_s=20)
    assert daemon.count(r"WARNING .*audit failed") == 1, daemon.log  # once for the outage


def test_failing_audits_are_logged_once_and_retried(synced, daemons):
    conf = synced(
        uri="qemu+unix:///system?socket=/nonexistent/libvirt-sock",
        extra="update_resources_interval = 1",
    )
    daemon = daemons(conf)

    # attempts at 0 s, 1 s and 3 s (backoff doubles), one warning for all of them
    assert wait_for(lambda: daemon.process.poll() is not None, timeout_s=4) is False
    assert daemon.count(r"WARNING .*audit failed: cannot connect to libvirt") == 1, daemon.log


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_stop_signal_exits_zero_promptly(synced, daemons, signum):
    daemon = daemons(synced(extra="update_resources_interval = 1"))
    assert daemon.wait_for_log(AUDITED)

    daemon.signal(signum)

    assert daemon.wait(timeout_s=5) == 0, daemon.log
    assert daemon.count(r"stopped$") == 1


def test_sighup_applies_a_new_interval_and_reserve(synced, daemons, sqlite_url):
    daemon = daemons(synced(extra=f"update_resources_interval = 3600\n{EVERY_AUDIT_BEATS}"))
    assert daemon.wait_for_log(AUDITED)
    synced(
        extra=f"update_resources_interval = 1\nreserved_host_memory_mb = 1024\n{EVERY_AUDIT_BEATS}"
    )

    daemon.signal(signal.SIGHUP)

    assert daemon.wait_for_log(r"configuration reloaded; audits every 1 s", timeout_s=10)
    assert wait_for(lambda: report_count(sqlite_url) >= 3, timeout_s=10), daemon.log
    # what changed, in the one INFO line of the audit that changed it
    changed = r"INFO .*row updated: .*reserved_host_memory_mb 512 -> 1024"
    assert daemon.wait_for_log(changed), daemon.log
    assert row(sqlite_url, "free_ram_mb") == 32768 - 15360 - 1024


def caught_signals(pid: int) -> set[int]:
    """The signals a process has handlers for (SigCgt in /proc/PID/status)."""
    with open(f"/proc/{pid}/status") as status:
        mask = int(next(line for line in status if line.startswith("SigCgt:")).split()[1], 16)
    return {number for number in range(1, 65) if mask & (1 << (number - 1))}


def test_sighup_while_starting_up_is_a_reload_once_the_loop_runs(synced, daemons):
    daemon = daemons(synced(extra="update_resources_interval = 3600"))
    pid = daemon.process.pid

    assert wait_for(lambda: signal.SIGHUP in caught_signals(pid), timeout_s=30, interval_s=0.005)
    with open(f"/proc/{pid}/maps") as maps:
        assert "libvirtmod" not in maps.read()  # caught before the slow imports
    daemon.signal(signal.SIGHUP)

    assert daemon.wait_for_log(r"configuration reloaded"), daemon.log
    assert daemon.wait_for_log(AUDITED)
    assert daemon.process.poll() is None


def test_sighup_with_a_bad_config_keeps_the_running_one(synced, daemons, sqlite_url):
    daemon = daemons(synced(extra=f"update_resources_interval = 1\n{EVERY_AUDIT_BEATS}"))
    assert daemon.wait_for_log(AUDITED)
    synced(extra="update_resources_interval = often")

    daemon.signal(signal.SIGHUP)

    assert daemon.wait_for_log(r"ERROR .*not reloaded.*update_resources_interval.*'often'")
    audits = report_count(sqlite_url)
    assert wait_for(lambda: report_count(sqlite_url) >= audits + 2, timeout_s=10), daemon.log
    assert daemon.process.poll() is None


def systemctl_reload(config_path: str, pid: int) -> int:
    """The unit's ExecReload= commands run as systemd runs them: in order, the reload failing
    at the first that fails. Its exit status, or 0."""
    for name, command in unit_directives():
        if name != "ExecReload":
            continue
        argv = command.replace("${CONFIG}", config_path).replace("$MAINPID", str(pid)).split()
        argv[0] = argv[0].replace("/usr/local/bin", BIN)
        status = subprocess.run(argv, capture_output=True, timeout=60).returncode
        if status:
            return status
    return 0


def test_systemctl_reload_fails_when_the_daemon_would_refuse_the_file(synced, daemons):
    conf = synced(extra="update_resources_interval = 3600")
    daemon = daemons(conf)
    assert daemon.wait_for_log(AUDITED)

    synced(extra="update_resources_interval = 99999999999")
    assert systemctl_reload(conf, daemon.process.pid) == 2
    synced(extra="update_resources_interval = 1800")
    assert systemctl_reload(conf, daemon.process.pid) == 0

    assert daemon.wait_for_log(r"configuration reloaded; audits every 1800 s"), daemon.log
    assert daemon.count(r"configuration") == 1  # the refused file never reached the daemon
    assert daemon.process.poll() is None


def test_sighup_warns_about_options_that_need_a_restart(synced, daemons, tmp_path):
    daemon = daemons(synced(extra="update_resources_interval = 3600"))
    assert daemon.wait_for_log(AUDITED)
    synced(extra="update_resources_interval = 3600", uri="test:///default")

    daemon.signal(signal.SIGHUP)

    assert daemon.wait_for_log(r"\[libvirt\] connection_uri changed: restart the daemon")


@pytest.fixture
def notify(tmp_path):
    listener = NotifyListener(str(tmp_path / "notify.sock"))
    yield listener
    listener.close()


def test_systemd_notify_protocol(synced, daemons, notify):
    daemon = daemons(synced(extra="update_resources_interval = 3600"), notify.env(watchdog_s=1))

    # start-up and the first audit take what the machine's load makes them; then it is idle
    assert notify.wait_for("STATUS=compute-1: vCPUs 15/12 used", timeout_s=60), notify.texts()
    (audited,) = [at for at, text in notify.messages if text.startswith("STATUS=compute-1")]
    assert wait_for(lambda: len(idle_pings(notify, audited)) >= 3, timeout_s=30), notify.texts()
    daemon.signal(signal.SIGTERM)

    assert notify.wait_for("STOPPING=1", timeout_s=30), notify.texts()
    assert notify.texts()[0].startswith("READY=1\nSTATUS=first audit in 0 s")
    # pings from the loop's own waits, paced by WATCHDOG_USEC (every half of it), not a
    # burst; how late a loaded machine may make them is test_watchdog.py's question
    pings = idle_pings(notify, audited)
    assert min(later - earlier for earlier, later in itertools.pairwise(pings)) >= 0.25, pings


def idle_pings(notify: NotifyListener, since: float) -> list[float]:
    """When the WATCHDOG=1 messages alone came, after `since` (no audit is due)."""
    return [at for at, text in list(notify.messages) if at > since and text == "WATCHDOG=1"]


@pytest.fixture
def own_libvirtd():
    """A libvirtd of this test's own, free to be stopped and frozen."""
    daemon = Libvirtd()
    daemon.start()
    yield daemon
    daemon.shutdown()


@pytest.mark.libvirtd
def test_rides_out_a_libvirtd_restart(own_libvirtd, synced, daemons, sqlite_url):
    daemon = daemons(synced(uri=own_libvirtd.uri, extra="update_resources_interval = 1"))
    assert daemon.wait_for_log(r"audit: compute-1: .* 0 VMs", timeout_s=60), daemon.log

    own_libvirtd.stop()
    assert daemon.wait_for_log(r"WARNING .*audit failed: cannot connect to libvirt"), daemon.log
    own_libvirtd.start()
    conn = own_libvirtd.connect()
    conn.createXML(domain_xml("after-restart", memory_mib=64, vcpus=2))
    conn.close()

    assert wait_for(lambda: row(sqlite_url, "running_vms") == 1, timeout_s=60), daemon.log
    assert row(sqlite_url, "vcpus_used") == 2
    # the row is committed a moment before the line saying so is logged and read
    assert daemon.wait_for_log(r"audit succeeded after \d+ failed attempt"), daemon.log
    assert daemon.process.poll() is None
    assert daemon.count(r"closed \(libvirtd went away\)") == 1
    assert daemon.count(r"WARNING .*audit failed") == 1  # once for the whole outage
    assert daemon.count(r"audit succeeded after \d+ failed attempt") == 1


@pytest.mark.libvirtd
def test_stop_while_an_audit_is_stuck(own_libvirtd, synced, daemons):
    daemon = daemons(synced(uri=own_libvirtd.uri, extra="update_resources_interval = 1"))
    assert daemon.wait_for_log(AUDITED_ANY, timeout_s=60), daemon.log

    os.kill(own_libvirtd.process.pid, signal.SIGSTOP)
    try:
        time.sleep(2)
        daemon.signal(signal.SIGTERM)
        status = daemon.wait(timeout_s=5)
    finally:
        os.kill(own_libvirtd.process.pid, signal.SIGCONT)

    assert status == 0, daemon.log
    assert daemon.count(r"audit abandoned before it wrote anything") == 1


def test_logs_carry_syslog_priorities_under_journald(synced, daemons):
    conf = synced(
        uri="qemu+unix:///system?socket=/nonexistent/libvirt-sock",
        extra="update_resources_interval = 3600",
    )
    daemon = daemons(conf, {"JOURNAL_STREAM": "8:12345"})

    assert daemon.wait_for_log(r"audit failed")
    assert daemon.lines[0] == (
        f"<6>INFO resource_tracker.cmd.daemon: resource-tracker {version()} starting; "
        f"config files: {conf}"
    )
    assert daemon.lines[1].startswith("<6>INFO resource_tracker.daemon.service: started")
    assert any(
        line.startswith("<4>WARNING resource_tracker.daemon.service: audit failed")
        for line in daemon.lines
    )


def scrape(port: int, path: str = "/metrics") -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except urllib.error.URLError:
        return 0, ""  # not listening yet


def samples(text: str) -> dict[str, float]:
    return {
        sample.name + "".join(f"{{{k}={v}}}" for k, v in sample.labels.items()): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_endpoint_matches_the_row(synced, daemons, sqlite_url):
    port = free_port()
    daemon = daemons(synced(extra=f"update_resources_interval = 3600\n[metrics]\nlisten = {port}"))
    assert daemon.wait_for_log(AUDITED), daemon.log

    status, text = scrape(port)
    health, _ = scrape(port, "/healthz")

    metrics = samples(text)
    assert (status, health) == (200, 200)
    assert metrics["resource_tracker_vcpus"] == row(sqlite_url, "vcpus") == 12
    # the metrics keep the running domains' use; the row counts the shut-off one (8 vCPUs,
    # 8 GiB) and the memory reserve (512 MiB) too, as Nova 34 does
    assert metrics["resource_tracker_vcpus_used"] + 8 == row(sqlite_url, "vcpus_used")
    assert metrics["resource_tracker_memory_bytes"] // 2**20 == row(sqlite_url, "memory_mb")
    assert metrics["resource_tracker_memory_used_bytes"] // 2**20 + 8192 + 512 == row(
        sqlite_url, "memory_mb_used"
    )
    assert metrics["resource_tracker_local_disk_bytes"] // 2**30 == row(sqlite_url, "local_gb")
    assert metrics["resource_tracker_disk_available_least_bytes"] // 2**30 == row(
        sqlite_url, "disk_available_least"
    )
    assert metrics["resource_tracker_running_vms"] + 1 == row(sqlite_url, "running_vms")
    assert metrics["resource_tracker_audit_duration_seconds_count"] == 1
    assert metrics["resource_tracker_libvirt_up"] == metrics["resource_tracker_database_up"] == 1
    assert metrics["resource_tracker_last_success_timestamp_seconds"] > 0
    assert metrics[f"resource_tracker_build_info{{version={version()}}}"] == 1


def test_unchanged_audits_within_report_interval_send_nothing(synced, daemons, sqlite_url):
    port = free_port()
    conf = f"update_resources_interval = 1\nreport_interval = 3600\n[metrics]\nlisten = {port}"
    daemon = daemons(synced(extra=conf))
    assert daemon.wait_for_log(AUDITED), daemon.log
    skipped = "resource_tracker_database_reconciles_total{kind=skipped}"

    assert wait_for(lambda: samples(scrape(port)[1]).get(skipped, 0) >= 3, timeout_s=20)
    # audits that changed something (free space, on a shared file system) beat; none other
    metrics = samples(scrape(port)[1])
    assert metrics["resource_tracker_database_reconciles_total{kind=heartbeat}"] == 0


def test_the_heartbeat_goes_on_between_audits_of_a_long_period(synced, daemons, sqlite_url):
    port = free_port()
    conf = f"update_resources_interval = 3600\nreport_interval = 1\n[metrics]\nlisten = {port}"
    daemon = daemons(synced(extra=conf))
    assert daemon.wait_for_log(AUDITED), daemon.log

    assert wait_for(lambda: report_count(sqlite_url) >= 4, timeout_s=20), daemon.log
    metrics = samples(scrape(port)[1])
    assert metrics["resource_tracker_audits_total{trigger=period}"] == 1
    assert metrics["resource_tracker_heartbeats_total"] >= 3


def test_sighup_applies_a_new_report_interval(synced, daemons, sqlite_url):
    daemon = daemons(synced(extra="update_resources_interval = 3600\nreport_interval = 3600"))
    assert daemon.wait_for_log(AUDITED)
    time.sleep(2)
    assert report_count(sqlite_url) == 1  # the first audit's
    synced(extra="update_resources_interval = 3600\nreport_interval = 1")

    daemon.signal(signal.SIGHUP)

    assert daemon.wait_for_log(r"configuration reloaded", timeout_s=10)
    assert wait_for(lambda: report_count(sqlite_url) >= 3, timeout_s=10), daemon.log
    assert daemon.count(AUDITED_ANY) == 1, daemon.log  # beats, not audits
    assert "restart the daemon" not in daemon.log


def test_a_failed_heartbeat_is_a_failed_audit_and_stops_the_beats(synced, daemons, sqlite_url):
    daemon = daemons(synced(extra="update_resources_interval = 3600\nreport_interval = 1"))
    assert daemon.wait_for_log(AUDITED), daemon.log
    assert wait_for(lambda: report_count(sqlite_url) >= 2, timeout_s=20), daemon.log

    set_schema_revision(sqlite_url, "9999")
    # met within report_interval, though the next periodic audit is an hour away
    assert daemon.wait_for_log(r"WARNING .*audit failed: database .* revision 9999", timeout_s=10)
    beats = report_count(sqlite_url)
    time.sleep(3)
    assert report_count(sqlite_url) == beats  # a host whose audits fail looks stale
    assert daemon.process.poll() is None


def test_health_fails_once_audits_keep_failing(synced, daemons):
    port = free_port()
    conf = synced(
        uri="qemu+unix:///system?socket=/nonexistent/libvirt-sock",
        extra=f"update_resources_interval = 1\n[metrics]\nlisten = 127.0.0.1:{port}",
    )
    daemons(conf)

    # healthy for three intervals after the first audit was due, then not
    assert wait_for(lambda: scrape(port, "/healthz")[0] == 503, timeout_s=10)
    metrics = samples(scrape(port)[1])
    assert metrics["resource_tracker_audits_failed_total{reason=libvirt}"] >= 2
    assert metrics["resource_tracker_libvirt_up"] == 0


def test_metrics_port_in_use_stops_start_up(synced):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        conf = synced(extra=f"[metrics]\nlisten = {port}")

        result = subprocess.run(
            [os.path.join(BIN, "resource-tracker"), "--config-file", conf],
            capture_output=True,
            text=True,
            timeout=30,
        )

    assert result.returncode == 1
    assert result.stderr.strip().endswith(f"[metrics] listen = {port}: Address already in use")


def open_descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_a_thousand_idle_clients_cannot_exhaust_the_daemons_descriptors(synced, daemons):
    """The campaign's 1,017 idle connections left the daemon without a descriptor for its
    disks: now they wait in the kernel's listen queue, not in the daemon."""
    port = free_port()
    daemon = daemons(synced(extra=f"update_resources_interval = 3600\n[metrics]\nlisten = {port}"))
    assert daemon.wait_for_log(AUDITED), daemon.log
    assert scrape(port)[0] == 200
    before = open_descriptors(daemon.process.pid)
    idle = []
    # the clients are this process's descriptors: a user's soft limit is often 1,024
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = max(soft, 4096 if hard == resource.RLIM_INFINITY else min(hard, 4096))
    if wanted < 1500:
        pytest.skip(f"1,000 clients need more descriptors than RLIMIT_NOFILE's {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    try:
        for _ in range(1000):
            client = socket.socket()
            client.setblocking(False)
            client.connect_ex(("127.0.0.1", port))
            idle.append(client)
        time.sleep(2)  # time enough to accept them all, had the daemon wanted to
        during = open_descriptors(daemon.process.pid)
    finally:
        for client in idle:
            client.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    assert during <= before + 4 + 2, (before, during)  # the 4 worker threads' connections
    assert wait_for(lambda: scrape(port)[0] == 200, timeout_s=20)
    assert daemon.process.poll() is None
