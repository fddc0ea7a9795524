"""[placement]: keystoneauth1's options, the auth plugin's own once auth_type names it, and
what cannot be used refused at start-up with one line."""

from __future__ import annotations

import pytest
from keystoneauth1 import loading as ks_loading
from oslo_config import cfg

from resource_tracker import conf as rt_conf
from resource_tracker.conf import placement, placement_ksa
from resource_tracker.exception import ConfigError
from tests.unit.conf.test_conf import load


def test_the_written_out_options_are_keystoneauths_with_novas_defaults():
    registered = cfg.ConfigOpts()
    ks_loading.register_session_conf_options(registered, "placement")
    ks_loading.register_auth_conf_options(registered, "placement")
    ks_loading.register_adapter_conf_options(registered, "placement", include_deprecated=False)
    theirs = {
        name: registered._get_opt_info(name, "placement")["opt"] for name in registered.placement
    }
    theirs["service_type"].default = "placement"  # nova/conf/utils.py register_ksa_opts
    theirs["valid_interfaces"].default = ["internal", "public"]

    ours = {opt.dest: opt for opt in placement_ksa.OPTS}

    assert sorted(ours) == sorted(theirs)
    for name, opt in ours.items():  # oslo.config compares every attribute: type, help, ...
        assert opt == theirs[name], name


def daemon_load(tmp_path, text: str) -> cfg.ConfigOpts:
    """As the daemon loads its config: the auth plugin's options only when reporting."""
    path = tmp_path / "resource-tracker.conf"
    path.write_text(text)
    conf = rt_conf.make_config()
    rt_conf.load(conf, ["--config-file", str(path)], every_credential=False)
    return conf


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
    with pytest.raises(ConfigError, match=message):  # the daemon's --check-config too
        daemon_load(tmp_path, "[placement]\n" + section)


def test_the_daemon_reads_nova_confs_plugin_options_only_when_it_reports(tmp_path):
    nova_conf = tmp_path / "nova.conf"
    nova_conf.write_text("[placement]\nauth_type = admin_token\nendpoint = http://127.0.0.1:1\n")
    ours = f"[DEFAULT]\nnova_config_file = {nova_conf}\n[placement]\n"

    quiet = daemon_load(tmp_path, ours)
    reporting = daemon_load(tmp_path, ours + "report = true\n")
    manage = load(tmp_path, ours)[0]

    assert quiet.placement.auth_type == "admin_token"  # the section's own, written out
    assert "endpoint" not in quiet.placement
    assert reporting.placement.endpoint == "http://127.0.0.1:1"
    assert manage.placement.endpoint == "http://127.0.0.1:1"  # placement show reads them


def test_off_without_report(tmp_path):
    conf, _ = load(tmp_path, "[placement]\nauth_type = admin_token\nendpoint = http://x\n")
    assert not placement.enabled(conf)
