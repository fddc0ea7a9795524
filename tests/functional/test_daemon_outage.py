"""The daemon outlives its database: a real mariadbd stopped and started under a running daemon."""

from __future__ import annotations

import os
import signal
import subprocess

import pymysql
import pytest

from tests.support.daemon import Daemon
from tests.support.mariadb import TRACKER_PASSWORD
from tests.support.paths import BIN
from tests.support.waiting import wait_for

pytestmark = pytest.mark.mysql


def free_ram_mb(server) -> int | None:
    try:
        connection = pymysql.connect(host="127.0.0.1", port=server.port, user="root")
    except pymysql.err.OperationalError:
        return None
    with connection, connection.cursor() as cursor:
        cursor.execute("SELECT free_ram_mb FROM rt.compute_nodes WHERE deleted = 0")
        row = cursor.fetchone()
    return row[0] if row else None


def test_daemon_rides_out_a_database_outage_and_catches_up(config, private_mariadb):
    url = private_mariadb.tracker_url
    conf = config(database=url, extra="update_resources_interval = 1")
    manage = os.path.join(BIN, "resource-tracker-manage")
    subprocess.run([manage, "--config-file", conf, "db", "sync"], check=True, capture_output=True)
    daemon = Daemon(conf)
    try:
        assert wait_for(lambda: free_ram_mb(private_mariadb) == 32768 - 15360 - 512, 30)

        private_mariadb.stop()
        assert daemon.wait_for_log(r"WARNING .*audit failed: database"), daemon.log
        # the host changes while the database is away: the row must catch up afterwards
        config(database=url, extra="update_resources_interval = 1\nreserved_host_memory_mb = 2048")
        daemon.signal(signal.SIGHUP)
        assert daemon.wait_for_log(r"configuration reloaded")
        private_mariadb.start()

        assert wait_for(lambda: free_ram_mb(private_mariadb) == 32768 - 15360 - 2048, 60), (
            daemon.log
        )
        assert daemon.wait_for_log(r"audit succeeded after \d+ failed attempt")
        assert daemon.process.poll() is None
    finally:
        daemon.stop()
    assert daemon.count(r"WARNING .*audit failed") == 1, daemon.log  # once for the outage
    assert TRACKER_PASSWORD not in daemon.log
    assert "tracker:***@127.0.0.1" in daemon.log
