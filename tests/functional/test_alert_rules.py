"""The alert rules shipped in etc/prometheus: valid for Prometheus, each alert firing and not
firing on the series made for it (`promtool test rules`), and on metrics the daemon exports."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest
import yaml
from prometheus_client import generate_latest

from resource_tracker.daemon.metrics import Metrics
from resource_tracker.exception import DatabaseUnavailable
from tests.support.paths import ROOT
from tests.unit.daemon.test_metrics import audit_result

RULES = os.path.join(ROOT, "etc", "prometheus", "resource-tracker.rules.yml")
CASES = os.path.join(ROOT, "tests", "fixtures", "prometheus", "resource-tracker.rules.test.yml")


def promtool(*args: str) -> subprocess.CompletedProcess:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool is missing: tools/setup.sh --test installs it (Debian: prometheus)")
    return subprocess.run([found, *args], capture_output=True, text=True, timeout=60)


def rules() -> list[dict]:
    with open(RULES) as text:
        return [rule for group in yaml.safe_load(text)["groups"] for rule in group["rules"]]


def exported_names() -> set[str]:
    """Every metric name a daemon serves once it has audited and failed once."""
    metrics = Metrics()
    metrics.expect_audit_by(0, 60)
    metrics.audit_succeeded(audit_result(), interval_s=60)
    metrics.audit_failed(DatabaseUnavailable("database down"))
    scraped = generate_latest(metrics.registry).decode()
    # samples, and the families with none here (the NUMA ones: this host has no cells)
    return {
        line.removeprefix("# HELP ").split("{")[0].split()[0]
        for line in scraped.splitlines()
        if not line.startswith("# TYPE ")
    }


def test_the_rules_and_their_templates_are_valid():
    checked = promtool("check", "rules", RULES)

    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(rules())} rules found" in checked.stdout


def test_each_alert_fires_and_does_not_on_its_cases(tmp_path):
    with open(RULES) as text:
        bare = yaml.safe_load(text)
    for group in bare["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations")  # the cases check expressions, `for` and labels
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(bare))
    with open(CASES) as text:
        cases = text.read().replace("  - RULES ", f"  - {tmp_path / 'rules.yml'} ")
    (tmp_path / "cases.yml").write_text(cases)

    tested = promtool("test", "rules", str(tmp_path / "cases.yml"))

    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_every_alert_has_a_case_that_fires_and_one_that_does_not():
    with open(CASES) as text:
        checks = [
            check for case in yaml.safe_load(text)["tests"] for check in case["alert_rule_test"]
        ]

    for rule in rules():
        name = rule["alert"]
        assert any(c["alertname"] == name and c["exp_alerts"] for c in checks), name
        assert any(c["alertname"] == name and not c["exp_alerts"] for c in checks), name


def test_the_rules_name_only_metrics_the_daemon_exports():
    named = {n for rule in rules() for n in re.findall(r"resource_tracker_\w+", rule["expr"])}
    exported = exported_names()

    assert named and named <= exported, named - exported
    with open(RULES) as text:
        commented = set(re.findall(r"resource_tracker_\w+", text.read())) - named
    assert commented == {"resource_tracker_placement_drift"}  # the note for what is to come
