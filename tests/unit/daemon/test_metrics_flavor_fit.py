"""resource_tracker_flavor_fit{flavor}: the capacity answer of each configured flavor, from the
values the audit wrote."""

from __future__ import annotations

import dataclasses
import logging
from types import SimpleNamespace

from prometheus_client import generate_latest

from resource_tracker.audit.capacity import host_fits
from resource_tracker.audit.fitting.flavor import Flavor, request
from resource_tracker.daemon.metrics import Metrics
from tests.unit.audit.test_shape import TWO_SOCKETS
from tests.unit.daemon.test_metrics_cells import audited

FLAVORS = [
    ("m1.small", request(Flavor(1, 2048, root_gb=20))),
    ("pinned", request(Flavor(2, 1024, extra_specs=(("hw:cpu_policy", "dedicated"),)))),
    ("huge", request(Flavor(2, 1024, extra_specs=(("hw:mem_page_size", "1GB"),)))),
]


def gauges(metrics: Metrics) -> dict[str, float]:
    prefix = 'resource_tracker_flavor_fit{flavor="'
    lines = generate_latest(metrics.registry).decode().splitlines()
    return {
        line[len(prefix) :].split('"')[0]: float(line.split()[-1])
        for line in lines
        if line.startswith(prefix)
    }


def test_each_flavor_has_the_answer_capacity_gives_for_the_row():
    metrics = Metrics(FLAVORS)
    result = audited(TWO_SOCKETS)
    assert gauges(metrics) == {}  # not known before the first audit

    metrics.audit_succeeded(result, interval_s=60)

    values = dataclasses.asdict(result.values) | {"storage_id": "local:compute-1"}
    row = SimpleNamespace(**values, host="compute-1")  # the row the audit wrote
    answers = host_fits(row, "up", [wanted for _name, wanted in FLAVORS])
    expected = {name: float(fit.fits) for (name, _), fit in zip(FLAVORS, answers, strict=True)}
    assert gauges(metrics) == expected
    assert expected["pinned"] > 0 and expected["m1.small"] > 0  # the gauge can tell


def test_no_flavors_no_gauge():
    metrics = Metrics()
    metrics.audit_succeeded(audited(TWO_SOCKETS), interval_s=60)

    assert gauges(metrics) == {}


def test_a_row_that_does_not_read_keeps_the_last_figures_with_one_warning(caplog):
    metrics = Metrics(FLAVORS)
    good = audited(TWO_SOCKETS)
    metrics.audit_succeeded(good, interval_s=60)
    before = gauges(metrics)
    broken = dataclasses.replace(good, values=dataclasses.replace(good.values, numa_topology="{"))

    with caplog.at_level(logging.WARNING):
        metrics.audit_succeeded(broken, interval_s=60)
        metrics.audit_succeeded(broken, interval_s=60)

    assert gauges(metrics) == before
    assert sum("does not read" in r.message for r in caplog.records) == 1
