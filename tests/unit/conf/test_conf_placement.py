"""[placement]: keystoneauth1's options, the auth plugin's own once auth_type names it, and
what cannot be used refused at start-up with one line."""

from __future__ import annotations

import pytest

from resource_tracker.conf import placement
from resource_tracker.exception import ConfigError
from tests.unit.conf.test_conf import load


def test_the_plugins_options_are_read_and_make_an_adapter(tmp_path):
    conf, _ = load(
        tmp_path,
        "[placement]\nreport = true\nauth_type = admin_token\n"
        "endpoint = http://127.0.0.1:8778\ntoken = admin\ntimeout = 30\n",
    )

    assert placement.enabled(conf)
    assert conf.placement.endpoint == "http://127.0.0.1:8778"
    assert conf.placement.service_type == "placement"  # Nova's defaults
    assert conf.placement.valid_interfaces == ["internal", "public"]
    assert placement.adapter(conf).session.timeout == 10.0  # never above PLACEMENT_CALL_S


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("report = true\n", r"\[placement\] report = true needs auth_type"),
        ("report = true\nauth_type = nonesuch\n", r"\[placement\] auth_type = nonesuch"),
        ("auth_type = admin_token\nendpiont = http://x\n", r"unknown option \[placement\]"),
        ("report = true\nauth_section = keystone\n", r"auth_section is not supported"),
        ("auth_type = password\nusrname = x\n", r"unknown option \[placement\] usrname"),
    ],
)
def test_what_cannot_be_used_is_refused(tmp_path, section, message):
    with pytest.raises(ConfigError, match=message):
        load(tmp_path, "[placement]\n" + section)


def test_off_without_report(tmp_path):
    conf, _ = load(tmp_path, "[placement]\nauth_type = admin_token\nendpoint = http://x\n")
    assert not placement.enabled(conf)
