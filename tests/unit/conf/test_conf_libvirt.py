"""[libvirt] images_type and the options of its kinds of storage: what is usable together,
refused early."""

from __future__ import annotations

import subprocess
import sys

import pytest

from resource_tracker.cmd.daemon import local_storage
from resource_tracker.exception import ConfigError
from resource_tracker.virt.disk import FileStorage
from resource_tracker.virt.lvm import LvmStorage
from resource_tracker.virt.rbd import RbdStorage
from tests.unit.conf.test_conf import load


def test_lvm_measures_the_volume_group(tmp_path):
    conf, _ = load(tmp_path, "[libvirt]\nimages_type = lvm\nimages_volume_group = nova-vg\n")

    storage = local_storage(conf)

    assert isinstance(storage, LvmStorage) and storage.volume_group == "nova-vg"


@pytest.mark.parametrize("images_type", ["default", "qcow2", "raw", "flat"])
def test_file_types_measure_the_instances_path(tmp_path, images_type):
    instances = tmp_path / "instances"
    instances.mkdir()
    conf, _ = load(
        tmp_path,
        f"[DEFAULT]\ninstances_path = {instances}\n[libvirt]\nimages_type = {images_type}\n",
    )

    storage = local_storage(conf)

    assert isinstance(storage, FileStorage) and storage.path == str(instances)


def test_rbd_measures_the_pool_with_novas_options(tmp_path):
    pytest.importorskip("rados", reason="Ceph's binding: run tools/setup.sh --test")
    conf, _ = load(
        tmp_path,
        "[libvirt]\nimages_type = rbd\nimages_rbd_pool = vms\n"
        "images_rbd_ceph_conf = /etc/ceph/cluster-2.conf\nrbd_user = nova\n",
    )

    storage = local_storage(conf)

    assert isinstance(storage, RbdStorage)
    assert (storage.pool, storage.ceph_conf, storage.user, storage.timeout_s) == (
        "vms",
        "/etc/ceph/cluster-2.conf",
        "nova",
        5,
    )


def test_rbd_without_cephs_binding_stops_start_up_with_one_line(tmp_path):
    config = tmp_path / "rt.conf"
    config.write_text("[libvirt]\nimages_type = rbd\n")
    # the binding made unimportable the way Python itself refuses a module
    code = (
        "import sys; sys.modules['rados'] = None; "
        "from resource_tracker.cmd.daemon import main; "
        f"main(['--config-file', '{config}', '--once'])"
    )

    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)

    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "images_type = rbd: Ceph's Python binding cannot be imported" in result.stderr
    assert "python3-rados" in result.stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("images_type = lvm\n", r"images_volume_group: required with images_type = lvm"),
        ("images_volume_group = vg\n", r"images_volume_group: set to 'vg' but .* 'default'"),
        ("images_type = qcow2\nimages_volume_group = vg\n", r"images_volume_group: .*'qcow2'"),
        (
            "images_type = lvm\nimages_volume_group = -vg\n",
            r"images_volume_group: invalid .*'-vg'",
        ),
        (
            "images_type = lvm\nimages_volume_group = a/b\n",
            r"images_volume_group: invalid .*'a/b'",
        ),
        ("images_type = ploop\n", r"images_type: invalid value 'ploop'"),
        ("images_type = rbd\nrbd_connect_timeout = 0\n", r"rbd_connect_timeout: invalid"),
    ],
)
def test_unusable_combinations_name_the_option(tmp_path, text, message):
    with pytest.raises(ConfigError, match=r"^\[libvirt\] " + message):
        load(tmp_path, f"[libvirt]\n{text}")
