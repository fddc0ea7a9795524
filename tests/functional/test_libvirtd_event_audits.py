"""The daemon on a real libvirtd with QEMU audits after libvirt's events: with an hour's
period, a domain defined, started, stopped and undefined is each in the row soon after."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing

import pytest

from tests.functional.test_daemon import daemons, synced  # noqa: F401 - fixtures
from tests.support.libvirtd import domain_xml
from tests.support.waiting import wait_for

pytestmark = pytest.mark.libvirtd

AUDITED = r"audit: compute-1: vCPUs"


def stats(sqlite_url: str) -> dict:
    with closing(sqlite3.connect(sqlite_url.removeprefix("sqlite:///"))) as db:
        found = db.execute("SELECT stats FROM compute_nodes WHERE deleted = 0").fetchone()
    return json.loads(found[0]) if found else {}


def test_each_change_is_in_the_row_without_waiting_for_the_period(
    libvirtd,
    synced,  # noqa: F811
    daemons,  # noqa: F811
    sqlite_url,
):
    daemon = daemons(synced(uri=libvirtd.uri, extra="update_resources_interval = 3600"))
    assert daemon.wait_for_log(AUDITED, timeout_s=60), daemon.log
    before = stats(sqlite_url)
    instances, active = before["num_instances"], before.get("num_vm_active", 0)
    conn = libvirtd.connect()
    try:
        dom = conn.defineXML(domain_xml("evented", memory_mib=64))
        defined = wait_for(lambda: stats(sqlite_url)["num_instances"] == instances + 1, 15)
        dom.create()
        started = wait_for(lambda: stats(sqlite_url).get("num_vm_active", 0) == active + 1, 15)
        dom.destroy()
        stopped = wait_for(lambda: stats(sqlite_url).get("num_vm_active", 0) == active, 15)
        dom.undefine()
        undefined = wait_for(lambda: stats(sqlite_url)["num_instances"] == instances, 15)
    finally:
        conn.close()

    assert (defined, started, stopped, undefined) == (True,) * 4, daemon.log
    # the first, then one after each change (a row is committed just before its line)
    assert daemon.wait_for_log(AUDITED, times=5, timeout_s=10), daemon.log
