"""The metrics endpoint in-process: what it serves, what it leaves out, what it will not hold."""

from __future__ import annotations

import dataclasses
import os
import re
import socket
import time
import urllib.error
import urllib.request
from importlib import metadata

import pytest
from prometheus_client.parser import text_string_to_metric_families

from resource_tracker.audit import device_spec
from resource_tracker.audit.devices import device_use
from resource_tracker.audit.fitting.flavor import Flavor, request
from resource_tracker.audit.shape import ShapePolicy
from resource_tracker.audit.tracker import (
    AuditResult,
    HostPolicy,
    compute_node_values,
    shape_of,
)
from resource_tracker.daemon import metrics as metrics_module
from resource_tracker.daemon.metrics import Metrics
from resource_tracker.exception import DatabaseUnavailable, HypervisorUnavailable, SchemaBehind
from resource_tracker.resources import (
    HostDevices,
    MdevType,
    NovaDomain,
    NovaFlavor,
    NovaInstance,
    PciDevice,
)
from tests.support.paths import ROOT
from tests.unit.audit.test_last_audit import RESOURCES

HOST_GAUGES = {
    f"resource_tracker_{name}"
    for name in (
        "vcpus", "vcpus_used", "memory_bytes", "memory_used_bytes", "local_disk_bytes",
        "local_disk_used_bytes", "local_disk_avail_bytes", "local_disk_free_bytes",
        "disk_overcommit_bytes", "disk_available_least_bytes", "running_vms",
    )
}  # fmt: skip


@pytest.fixture
def served(monkeypatch):
    """A Metrics served on a free loopback port whose connections get 1 s in all."""
    monkeypatch.setattr(metrics_module, "CONNECTION_TIMEOUT_S", 1.0, raising=False)
    metrics = Metrics()
    server = metrics.serve("127.0.0.1:0")
    yield metrics, server.server_address[1]
    server.shutdown()
    server.server_close()


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def samples(port: int) -> dict[str, float]:
    status, text = get(port, "/metrics")
    assert status == 200
    return {
        sample.name + "".join(f"{{{k}={v}}}" for k, v in sample.labels.items()): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


VF = PciDevice("pci_0000_81_10_2", "0000:81:10.2", "8086", "10ed", "type-VF", numa_node=0,
               parent_addr="0000:81:00.0")  # fmt: skip
DEVICES = HostDevices(
    pci=(VF,),
    mdev_types=(MdevType("0000:3b:00.0", "nvidia-222", "GRID T4-4Q", "vfio-pci", 3),),
    xml_reads=2,
)


def audit_result(devices: HostDevices | None = DEVICES) -> AuditResult:
    resources = dataclasses.replace(RESOURCES, devices=devices)
    shape = shape_of(resources, ShapePolicy())  # as the tracker makes it
    use = device_use(resources, device_spec.parse(['{"vendor_id": "8086"}']))
    values = compute_node_values(resources, HostPolicy(), shape=shape, use=use)
    return AuditResult(
        "compute-1", resources, values, changed=True, duration_s=0.01, shape=shape, devices=use
    )


def test_device_gauges_are_the_last_audits(served):
    metrics, port = served
    metrics.audit_succeeded(audit_result(), interval_s=60)
    first = samples(port)
    metrics.audit_succeeded(audit_result(dataclasses.replace(DEVICES, mdev_types=())), 60)
    second = samples(port)

    assert first["resource_tracker_pci_devices{dev_type=type-VF}{status=available}"] == 1
    assert first["resource_tracker_mdev_instances_available{type=nvidia-222}"] == 3
    assert first["resource_tracker_mdev_instances_used{type=nvidia-222}"] == 0
    assert "resource_tracker_mdev_instances_available{type=nvidia-222}" not in second
    assert second["resource_tracker_node_device_xml_reads_total"] == 4


def test_only_metrics_and_healthz_are_served(served):
    _, port = served

    assert get(port, "/metrics")[0] == 200
    assert get(port, "/healthz") == (200, "ok\n")
    for path in ("/", "/metrics/x", "/favicon.ico", "/healthz/", "/../etc/passwd"):
        assert get(port, path)[0] == 404, path


def test_healthz_says_why_audits_fail(served):
    metrics, port = served
    metrics.expect_audit_by(time.monotonic() - 1)  # overdue
    metrics.audit_failed(SchemaBehind("database x is at schema revision 0006; run: db sync"))

    assert get(port, "/healthz") == (
        503,
        "no successful audit recently: database x is at schema revision 0006; run: db sync\n",
    )
    metrics.audit_succeeded(audit_result(), 60)
    assert get(port, "/healthz") == (200, "ok\n")


def test_host_gauges_are_absent_until_an_audit_succeeds(served):
    metrics, port = served

    before = samples(port)
    metrics.audit_failed(HypervisorUnavailable("down"))
    after_failure = samples(port)
    metrics.audit_succeeded(audit_result(), interval_s=60)
    after_success = samples(port)

    assert not HOST_GAUGES & before.keys()
    assert "resource_tracker_last_success_timestamp_seconds" not in before
    assert "resource_tracker_libvirt_up" not in before  # not known before the first audit
    assert not HOST_GAUGES & after_failure.keys()
    assert after_failure["resource_tracker_libvirt_up"] == 0
    assert after_success.keys() >= HOST_GAUGES
    assert after_success["resource_tracker_vcpus"] == RESOURCES.vcpus
    assert after_success["resource_tracker_local_disk_avail_bytes"] == 60
    assert after_success["resource_tracker_disk_available_least_bytes"] == 60 - 20
    assert after_success["resource_tracker_libvirt_up"] == 1


def test_every_failure_reason_has_a_series_from_the_start(served):
    metrics, port = served

    before = samples(port)
    metrics.audit_failed(DatabaseUnavailable("gone"))
    after = samples(port)

    for reason in ("libvirt", "database", "storage", "error"):
        assert before[f"resource_tracker_audits_failed_total{{reason={reason}}}"] == 0
    assert after["resource_tracker_audits_failed_total{reason=database}"] == 1
    assert after["resource_tracker_database_up"] == 0


def test_process_metrics_are_exported(served):
    _, port = served

    found = samples(port)

    assert found["process_open_fds"] > 0
    assert found["process_resident_memory_bytes"] > 0


def test_build_info_names_the_installed_version_from_the_start(served):
    _, port = served

    found = samples(port)

    installed = metadata.version("resource-tracker")
    assert found[f"resource_tracker_build_info{{version={installed}}}"] == 1


def closed_by_server(client: socket.socket, within_s: float) -> bool:
    """True if the server closed the connection within `within_s` (reads then see EOF)."""
    client.settimeout(within_s)
    try:
        while client.recv(4096):
            pass
    except (TimeoutError, ConnectionResetError) as error:
        return isinstance(error, ConnectionResetError)
    return True


def test_an_idle_connection_is_closed_after_its_time(served):
    _, port = served

    with socket.create_connection(("127.0.0.1", port)) as idle:
        started = time.monotonic()
        assert closed_by_server(idle, within_s=5)
    assert time.monotonic() - started < 3


def test_a_client_sending_a_byte_at_a_time_gets_no_more_time(served):
    _, port = served

    with socket.create_connection(("127.0.0.1", port)) as slow:
        started = time.monotonic()
        try:
            for byte in b"GET /metrics HTTP/1.1\r\nHost: x\r\n":
                slow.send(bytes([byte]))
                time.sleep(0.1)
        except OSError:
            pass  # closed on us: the point
        assert closed_by_server(slow, within_s=5)
    assert time.monotonic() - started < 3


def documented_metric_names() -> set[str]:
    """The families of docs/metrics.md's table (its first column)."""
    with open(os.path.join(ROOT, "docs", "metrics.md")) as page:
        rows = [line for line in page if line.startswith("| `resource_tracker_")]
    cells = [row.split("|")[1] for row in rows]
    names = {name for cell in cells for name in re.findall(r"`(resource_tracker_\w+)", cell)}
    return {name.removesuffix("_total") for name in names}


def test_the_metrics_reference_names_every_metric_exported_and_no_other():
    metrics = Metrics([("m1.small", request(Flavor(1, 512)))])  # a flavor: flavor_fit too
    metrics.audit_succeeded(audit_result(), interval_s=60)
    metrics.audit_failed(DatabaseUnavailable("gone"))

    exported = {
        family.name
        for family in metrics.registry.collect()
        if family.name.startswith("resource_tracker_")
    }

    assert documented_metric_names() == exported


def test_domains_are_counted_by_their_nova_flavor(served):
    metrics, port = served
    small = NovaInstance(flavor=NovaFlavor(name="m1.small"))
    nameless = NovaInstance(flavor=NovaFlavor(name=None))
    nova = (NovaDomain("a", True, small), NovaDomain("b", False, small))
    nova += (NovaDomain("c", True, nameless),)
    resources = dataclasses.replace(
        RESOURCES,
        devices=DEVICES,
        domain_states=(("running", 3), ("shutoff", 2)),
        nova_domains=nova,
    )
    result = dataclasses.replace(audit_result(), resources=resources)

    metrics.audit_succeeded(result, interval_s=60)
    counted = samples(port)

    assert counted["resource_tracker_domains{flavor=m1.small}"] == 2
    assert counted["resource_tracker_domains{flavor=}"] == 3  # 2 without metadata, 1 nameless


def test_health_names_the_failure_and_fails_at_once_when_a_person_must_act(served):
    metrics, port = served
    metrics.expect_audit_by(time.monotonic() - 1)  # the first audit was due a while ago

    assert get(port, "/healthz") == (503, "no successful audit recently\n")
    metrics.audit_failed(DatabaseUnavailable("database sqlite:///x: disk I/O error"))
    assert get(port, "/healthz") == (
        503,
        "no successful audit recently: database sqlite:///x: disk I/O error\n",
    )
    metrics.audit_succeeded(audit_result(), interval_s=60)
    assert get(port, "/healthz") == (200, "ok\n")

    # within the healthy intervals, a fault that retrying cures leaves /healthz at 200...
    metrics.audit_failed(DatabaseUnavailable("database ...: Lost connection"))
    assert get(port, "/healthz") == (200, "ok\n")
    # ...one that needs a person turns it to 503 at once, saying so
    full = DatabaseUnavailable("database sqlite:///x: database or disk is full")
    full.needs_operator = True
    metrics.audit_failed(full, f"{full}; needs an operator")
    assert get(port, "/healthz") == (
        503,
        "no successful audit recently: database sqlite:///x: database or disk is full; "
        "needs an operator\n",
    )
    metrics.audit_succeeded(audit_result(), interval_s=60)
    assert get(port, "/healthz") == (200, "ok\n")


def test_the_interval_is_exported_from_start_up_and_follows_a_reload(served):
    metrics, port = served
    metrics.expect_audit_by(time.monotonic() + 60, interval_s=60)
    at_start = samples(port)["resource_tracker_audit_interval_seconds"]
    metrics.audit_succeeded(audit_result(), interval_s=15)  # after a SIGHUP set 15 s

    assert (at_start, samples(port)["resource_tracker_audit_interval_seconds"]) == (60, 15)


def test_audits_are_counted_by_trigger_and_by_their_database_work():
    metrics = Metrics()

    metrics.audit_succeeded(audit_result(), interval_s=60)
    beat_only = dataclasses.replace(audit_result(), changed=False, rows_read=False)
    metrics.audit_succeeded(beat_only, interval_s=60, trigger="event")
    metrics.audit_succeeded(beat_only, interval_s=60, trigger="event")
    metrics.audit_succeeded(dataclasses.replace(beat_only, beat=False), 60, trigger="event")

    def value(name: str, **labels: str) -> float | None:
        return metrics.registry.get_sample_value(name, labels)

    assert value("resource_tracker_audits_total", trigger="period") == 1
    assert value("resource_tracker_audits_total", trigger="event") == 3
    assert value("resource_tracker_database_reconciles_total", kind="full") == 1
    assert value("resource_tracker_database_reconciles_total", kind="heartbeat") == 2
    assert value("resource_tracker_database_reconciles_total", kind="skipped") == 1
