"""[libvirt] images_type and images_volume_group: what is usable together, refused early."""

from __future__ import annotations

import pytest

from resource_tracker.cmd.daemon import local_storage
from resource_tracker.exception import ConfigError
from resource_tracker.virt.disk import FileStorage
from resource_tracker.virt.lvm import LvmStorage
from tests.unit.test_conf import load


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
        ("images_type = rbd\n", r"images_type: invalid value 'rbd'"),
    ],
)
def test_unusable_combinations_name_the_option(tmp_path, text, message):
    with pytest.raises(ConfigError, match=r"^\[libvirt\] " + message):
        load(tmp_path, f"[libvirt]\n{text}")
