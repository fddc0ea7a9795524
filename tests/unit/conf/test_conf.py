"""Configuration: names operators know, the generated sample, and bad files refused early."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from resource_tracker import conf as rt_conf
from resource_tracker.exception import ConfigError
from tests.support.paths import ROOT


def load(tmp_path, text: str):
    path = tmp_path / "resource-tracker.conf"
    path.write_text(text)
    conf = rt_conf.make_config()
    rt_conf.load(conf, ["--config-file", str(path)])
    return conf, str(path)


def test_values_and_defaults(tmp_path):
    conf, _ = load(
        tmp_path,
        "[DEFAULT]\nstate_path = /srv/rt\nreserved_host_memory_mb = 2048\n"
        "[libvirt]\nimages_type = qcow2\n",
    )

    assert conf.reserved_host_memory_mb == 2048
    # libvirt's default pool: a plain libvirt host starts without setting it
    assert conf.instances_path == "/var/lib/libvirt/images"
    assert conf.database.connection == "sqlite:////srv/rt/resource_tracker.sqlite"
    assert conf.libvirt.connection_uri == "qemu:///system"
    assert conf.libvirt.images_type == "qcow2"
    assert conf.update_resources_interval == 60


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[DEFAULT]\nreserved_host_memory = 1\n", r"unknown option \[DEFAULT\] reserved_host_m"),
        ("[libvirt]\nuri = qemu:///system\n", r"unknown option \[libvirt\] uri"),
        ("[databse]\nconnection = sqlite://\n", r"unknown section \[databse\]"),
        ("[libvirt]\nimages_type = ploop\n", r"\[libvirt\] images_type: invalid value"),
        ("[DEFAULT]\nreserved_host_disk_mb = -1\n", r"\[DEFAULT\] reserved_host_disk_mb: invalid"),
        ("[DEFAULT]\nupdate_resources_interval = soon\n", r"update_resources_interval: invalid"),
        ("[metrics]\nlisten = localhost\n", r"\[metrics\] listen: invalid value 'localhost'"),
    ],
)
def test_bad_file_names_the_option(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message) as raised:
        load(tmp_path, text)

    assert str(tmp_path) in str(raised.value)


def test_missing_config_file(tmp_path):
    conf = rt_conf.make_config()

    with pytest.raises(ConfigError, match=r"nowhere\.conf"):
        rt_conf.load(conf, ["--config-file", str(tmp_path / "nowhere.conf")])


def test_sample_config_is_current(tmp_path):
    """etc/resource-tracker/resource-tracker.conf.sample is what the generator writes now."""
    generated = tmp_path / "sample.conf"
    subprocess.run(
        [
            os.path.join(os.path.dirname(sys.executable), "oslo-config-generator"),
            "--config-file",
            os.path.join(ROOT, "etc/oslo-config-generator/resource-tracker.conf"),
            "--output-file",
            str(generated),
        ],
        check=True,
    )

    with open(os.path.join(ROOT, "etc/resource-tracker/resource-tracker.conf.sample")) as sample:
        assert generated.read_text() == sample.read(), (
            "stale sample config: run tox -e genconfig (or oslo-config-generator "
            "--config-file etc/oslo-config-generator/resource-tracker.conf) and commit it"
        )
