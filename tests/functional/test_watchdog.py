"""The watchdog never kills a daemon riding out a fault, and the fault shows instead.

Real faults: a SIGSTOPped private mariadbd (a hung database server), a row lock held by a
second MariaDB session, a SIGSTOPped private libvirtd (frozen mid-call, and frozen before the
daemon's open). systemd is played by a notify socket with WatchdogSec = 4 s (WATCHDOG_USEC),
so each half of an audit is abandoned after 2 s and every fault lasts twice WatchdogSec:
before, the daemon stopped pinging while a call hung and systemd would have killed it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pymysql
import pytest
from sqlalchemy.engine import make_url

from tests.functional.test_daemon import own_libvirtd, samples, scrape  # noqa: F401
from tests.support.daemon import Daemon
from tests.support.mariadb import free_port
from tests.support.notify import NotifyListener
from tests.support.paths import BIN

WATCHDOG_S = 4.0
AUDITED = r"INFO .*audit: compute-1: vCPUs"


@pytest.fixture
def notify(tmp_path):
    listener = NotifyListener(str(tmp_path / "notify.sock"))
    yield listener
    listener.close()


@pytest.fixture
def started(notify):
    """Start daemons under the notify socket's watchdog; each is stopped at the end."""
    daemons = []

    def start(conf: str) -> Daemon:
        daemon = Daemon(conf, notify.env(WATCHDOG_S))
        daemons.append(daemon)
        return daemon

    yield start
    for daemon in daemons:
        daemon.stop()


def synced(config, **options) -> tuple[str, int]:
    """A config with the schema in place, metrics on; returns it and the metrics port."""
    port = free_port()
    conf = config(**options, extra=f"update_resources_interval = 1\n[metrics]\nlisten = {port}")
    manage = os.path.join(BIN, "resource-tracker-manage")
    subprocess.run([manage, "--config-file", conf, "db", "sync"], check=True, capture_output=True)
    return conf, port


def ride_out(daemon: Daemon, notify: NotifyListener, since: float) -> None:
    """Let the fault last twice WatchdogSec, then check the daemon pinged all along."""
    time.sleep(max(0.0, since + 2 * WATCHDOG_S - time.monotonic()))
    assert daemon.process.poll() is None, daemon.log
    silence = notify.longest_silence(since, time.monotonic())
    assert silence < WATCHDOG_S, (silence, notify.texts(since))


def assert_shows(port: int, notify: NotifyListener, since: float, up_metric: str) -> None:
    """The fault is in STATUS=, /healthz and the metrics."""
    assert any(t.startswith("STATUS=audit failed:") for t in notify.texts(since))
    assert scrape(port, "/healthz")[0] == 503
    assert samples(scrape(port)[1])[up_metric] == 0


@pytest.mark.mysql
def test_a_hung_database_server(config, private_mariadb, started, notify):
    conf, port = synced(config, database=private_mariadb.tracker_url)
    daemon = started(conf)
    assert daemon.wait_for_log(AUDITED, timeout_s=30), daemon.log

    frozen = time.monotonic()
    os.kill(private_mariadb.process.pid, signal.SIGSTOP)
    try:
        # a write that hangs says what it waits on, as a stuck measurement does
        assert daemon.wait_for_log(r"WARNING .*audit still running; waiting on the database")
        assert daemon.wait_for_log(r"WARNING .*audit failed: write not finished after 2 s")
        ride_out(daemon, notify, frozen)
        assert_shows(port, notify, frozen, "resource_tracker_database_up")
    finally:
        os.kill(private_mariadb.process.pid, signal.SIGCONT)

    assert daemon.wait_for_log(r"INFO .*the abandoned write returned after", timeout_s=30)
    assert daemon.wait_for_log(r"audit succeeded after", timeout_s=30), daemon.log
    assert daemon.count(r"WARNING .*audit failed") == 1, daemon.log  # once for the outage


@pytest.mark.mysql
def test_a_row_lock_another_session_holds(config, mysql_url, started, notify):
    conf, port = synced(config, database=mysql_url)
    daemon = started(conf)
    assert daemon.wait_for_log(AUDITED, timeout_s=30), daemon.log
    url = make_url(mysql_url)
    holder = pymysql.connect(
        host=url.host,
        port=url.port,
        user=url.username,
        password=url.password or "",
        database=url.database,
    )

    locked = time.monotonic()
    with holder.cursor() as cursor:
        cursor.execute("BEGIN")
        cursor.execute("SELECT * FROM services FOR UPDATE")
    try:
        assert daemon.wait_for_log(r"WARNING .*audit failed: write not finished after 2 s")
        ride_out(daemon, notify, locked)
        assert_shows(port, notify, locked, "resource_tracker_database_up")
    finally:
        holder.rollback()
        holder.close()

    assert daemon.wait_for_log(r"audit succeeded after", timeout_s=30), daemon.log
    assert daemon.count(r"WARNING .*audit failed") == 1, daemon.log


@pytest.mark.libvirtd
def test_a_libvirtd_frozen_mid_call(own_libvirtd, config, started, notify):  # noqa: F811
    conf, port = synced(config, uri=own_libvirtd.uri)
    daemon = started(conf)
    assert daemon.wait_for_log(AUDITED, timeout_s=60), daemon.log

    # (the first audit of a new libvirtd may itself outlast 2 s, probing QEMU: count anew)
    failed, recovered = daemon.count(r"WARNING .*audit failed"), daemon.count("succeeded after")
    frozen = time.monotonic()
    os.kill(own_libvirtd.process.pid, signal.SIGSTOP)
    try:
        stuck = daemon.count(r"WARNING .*audit still running; waiting on libvirt \w+")
        assert daemon.wait_for_log(
            r"WARNING .*audit still running; waiting on libvirt \w+", stuck + 1
        )
        assert daemon.wait_for_log(r"WARNING .*audit failed: measurement not finished", failed + 1)
        daemon.signal(signal.SIGHUP)
        assert daemon.wait_for_log(r"configuration reloaded", timeout_s=3)  # the hub answers
        ride_out(daemon, notify, frozen)
        assert_shows(port, notify, frozen, "resource_tracker_libvirt_up")
    finally:
        os.kill(own_libvirtd.process.pid, signal.SIGCONT)

    assert daemon.wait_for_log(r"audit succeeded after", recovered + 1, timeout_s=60), daemon.log
    assert daemon.count(r"WARNING .*audit failed") == failed + 1, daemon.log


@pytest.mark.libvirtd
def test_a_libvirtd_frozen_before_the_open(own_libvirtd, config, started, notify):  # noqa: F811
    """virConnectOpen has no time limit of its own (keepalive starts after it)."""
    conf, port = synced(config, uri=own_libvirtd.uri)
    os.kill(own_libvirtd.process.pid, signal.SIGSTOP)
    try:
        daemon = started(conf)
        assert notify.wait_for("READY=1", timeout_s=30)
        frozen = time.monotonic()
        assert daemon.wait_for_log(
            r"WARNING .*audit failed: measurement not finished after 2 s, waiting on "
            r"connecting to libvirt at qemu\+unix"
        ), daemon.log
        ride_out(daemon, notify, frozen)
        assert_shows(port, notify, frozen, "resource_tracker_libvirt_up")
    finally:
        os.kill(own_libvirtd.process.pid, signal.SIGCONT)

    assert daemon.wait_for_log(r"INFO .*the abandoned measurement returned after"), daemon.log
    assert daemon.wait_for_log(r"audit succeeded after", timeout_s=60), daemon.log


@pytest.mark.mysql
def test_a_hung_database_at_start_up_holds_ready_briefly(config, private_mariadb, started, notify):
    conf, _ = synced(config, database=private_mariadb.tracker_url)
    os.kill(private_mariadb.process.pid, signal.SIGSTOP)
    try:
        began = time.monotonic()
        daemon = started(conf)
        assert notify.wait_for("READY=1", timeout_s=30), daemon.log
        ready_after = min(at for at, text in notify.messages if text.startswith("READY=1"))
        # timeouts.START_CHECK_S, and starting Python: seen taking 5 s on a loaded machine
        assert ready_after - began < 10 + 10
        assert daemon.count(r"WARNING .*did not answer the schema check within 10 s") == 1
    finally:
        os.kill(private_mariadb.process.pid, signal.SIGCONT)

    assert daemon.wait_for_log(AUDITED, timeout_s=60), daemon.log
