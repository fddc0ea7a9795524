"""The audit's log line: INFO for the first, for a change (saying what changed) and once an
hour; DEBUG for an audit that changed nothing."""

from __future__ import annotations

import dataclasses
import logging

from resource_tracker.audit.tracker import AuditResult, HostPolicy, compute_node_values
from resource_tracker.daemon.audit_log import AuditLog, changes
from tests.unit.audit.test_tracker import RESOURCES

VALUES = compute_node_values(RESOURCES, HostPolicy())


def result(changed: bool, **columns) -> AuditResult:
    values = dataclasses.replace(VALUES, **columns)
    return AuditResult("compute-1", RESOURCES, values, changed, 0.01)


def test_a_day_of_audits_that_change_nothing_is_one_info_line_an_hour():
    log = AuditLog(summary_every_s=3600)

    levels = [
        log.line(result(changed=minute == 0), now=minute * 60.0)[0] for minute in range(1440)
    ]

    assert levels.count(logging.INFO) == 24  # the first, then one an hour
    assert levels.count(logging.DEBUG) == 1440 - 24
    assert [minute for minute, level in enumerate(levels) if level == logging.INFO][:3] == [
        0,
        60,
        120,
    ]


def test_the_hourly_line_counts_the_quiet_audits():
    log = AuditLog(summary_every_s=3600)
    log.line(result(changed=True), now=0)
    for minute in range(1, 60):
        assert log.line(result(changed=False), now=minute * 60.0)[0] == logging.DEBUG

    level, text = log.line(result(changed=False), now=3600)

    assert level == logging.INFO
    assert text.startswith("audit: compute-1: vCPUs ")
    assert text.endswith("row unchanged; 60 audit(s) in a row changed nothing")


def test_a_change_is_one_info_line_saying_what_changed():
    log = AuditLog()
    log.line(result(changed=True), now=0)
    log.line(result(changed=False), now=60)

    level, text = log.line(
        result(changed=True, free_ram_mb=VALUES.free_ram_mb - 2048, running_vms=9), now=120
    )

    assert level == logging.INFO
    assert text.endswith(
        f"row updated: free_ram_mb {VALUES.free_ram_mb} -> {VALUES.free_ram_mb - 2048}, "
        f"running_vms {VALUES.running_vms} -> 9"
    )
    # and the quiet count starts again after it
    assert log.line(result(changed=False, running_vms=9), now=180)[0] == logging.DEBUG


def test_a_long_column_is_named_not_shown():
    before = dataclasses.replace(VALUES, stats='{"num_instances": 1, "io_workload": 0, "x": 1}')
    after = dataclasses.replace(before, stats='{"num_instances": 2, "io_workload": 0, "x": 1}')

    assert changes(before, after) == "stats changed"
    assert changes(before, before) == ""


def test_a_rewritten_row_whose_values_did_not_move_says_so():
    log = AuditLog()
    log.line(result(changed=True), now=0)

    level, text = log.line(result(changed=True), now=60)

    assert level == logging.INFO
    assert text.endswith("row updated: values as before (the row or its devices were rewritten)")
