"""The Grafana dashboard in etc/grafana: every panel's query returns series from a real
Prometheus scraping real daemons (one on libvirt's default test host, which has NUMA cells;
one on the devices host, which has PCI devices and vGPUs), and names only exported metrics."""

from __future__ import annotations

import json
import os
import re

import pytest

from resource_tracker.db.api import Database
from tests.functional.test_alert_rules import exported_names
from tests.functional.test_devices_cli import write_config
from tests.support.daemon import Daemon
from tests.support.mariadb import free_port
from tests.support.paths import ROOT
from tests.support.prometheus import serving
from tests.support.waiting import wait_for

DASHBOARD = os.path.join(ROOT, "etc", "grafana", "resource-tracker.json")


def panels() -> list[dict]:
    with open(DASHBOARD) as text:
        return [panel for panel in json.load(text)["panels"] if panel["type"] != "row"]


def queries() -> list[tuple[str, str]]:
    return [(panel["title"], target["expr"]) for panel in panels() for target in panel["targets"]]


def daemon_config(directory, port: int, uri: str | None = None) -> str:
    """A daemon auditing every second with its metrics on `port`, on its own SQLite file."""
    directory.mkdir()
    url = f"sqlite:///{directory}/resource_tracker.sqlite"
    with Database(url) as database:
        database.sync_schema()
    extra = f"update_resources_interval = 1\n[metrics]\nlisten = 127.0.0.1:{port}"
    path = write_config(directory, url, extra=extra)  # the devices host
    if uri is not None:
        with open(path) as text:
            config = re.sub(r"connection_uri = .*", f"connection_uri = {uri}", text.read())
        with open(path, "w") as text:
            text.write(config)
    return path


@pytest.fixture(scope="module")
def scraped(tmp_path_factory):
    """A Prometheus that has scraped two daemons a few times each; and their instances."""
    directory = tmp_path_factory.mktemp("dashboard")
    ports = [free_port(), free_port()]
    daemons = [
        Daemon(daemon_config(directory / "cells", ports[0], uri="test:///default")),
        Daemon(daemon_config(directory / "devices", ports[1])),
    ]
    instances = [f"127.0.0.1:{port}" for port in ports]
    try:
        with serving(directory, instances) as prometheus:
            audited = "count_over_time(resource_tracker_audit_duration_seconds_count[1m]) >= 3"
            logs = "\n".join(daemon.log for daemon in daemons)
            assert wait_for(lambda: len(prometheus.query(audited)) == 2, timeout_s=30), logs
            yield prometheus, instances
    finally:
        for daemon in daemons:
            daemon.stop()


def test_the_host_variable_lists_every_daemon(scraped):
    prometheus, instances = scraped

    found = prometheus.query("resource_tracker_build_info")

    assert sorted(series["metric"]["instance"] for series in found) == sorted(instances)


@pytest.mark.parametrize(("title", "expr"), queries())
def test_every_query_returns_series(scraped, title, expr):
    prometheus, instances = scraped
    expr = expr.replace("$__rate_interval", "1m")

    if "$instance" in expr:  # a host's panel: series for at least one of the hosts
        results = {i: prometheus.query(expr.replace("$instance", i)) for i in instances}
        assert any(results.values()), (title, expr)
    else:
        assert prometheus.query(expr), (title, expr)


def test_the_panels_name_only_exported_metrics_and_use_the_chosen_datasource():
    named = {n for _, expr in queries() for n in re.findall(r"resource_tracker_\w+", expr)}
    exported = exported_names()

    assert named <= exported, named - exported
    assert len(named) >= 25  # fleet, audits, cells, devices, over-commit
    for panel in panels():
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
    ids = [panel["id"] for panel in panels()]
    assert len(ids) == len(set(ids))
