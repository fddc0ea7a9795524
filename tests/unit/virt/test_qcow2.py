"""qcow2 header decoding, checked against what qemu-img says of images it made."""

from __future__ import annotations

import struct

import pytest

from resource_tracker.exception import ImageError
from resource_tracker.virt import qcow2
from tests.support import images

QEMU_COMPAT_VERSION = {"0.10": 2, "1.1": 3}


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    root = tmp_path_factory.mktemp("qcow2")
    base = images.create(root / "base.qcow2", "qcow2", "4G")
    return {
        "v2": images.create(root / "v2.qcow2", "qcow2", "3G", "-o", "compat=0.10"),
        "v3": images.create(root / "v3.qcow2", "qcow2", "5G"),
        "backing": images.create(root / "overlay.qcow2", "qcow2", "6G", "-b", base, "-F", "qcow2"),
        "backing-v2": images.create(
            root / "overlay-v2.qcow2",
            "qcow2",
            "2G",
            "-o",
            "compat=0.10",
            "-b",
            base,
            "-F",
            "qcow2",
        ),
        "2m-clusters": images.create(root / "2m.qcow2", "qcow2", "7G", "-o", "cluster_size=2M"),
        "512-clusters": images.create(root / "512.qcow2", "qcow2", "1G", "-o", "cluster_size=512"),
        "odd-size": images.create(root / "odd.qcow2", "qcow2", "1000000001"),
    }


def _file_bytes(path) -> bytes:
    with open(path, "rb") as image:
        return image.read()


@pytest.mark.parametrize(
    "name", ["v2", "v3", "backing", "backing-v2", "2m-clusters", "512-clusters", "odd-size"]
)
def test_header_decodes_as_qemu_img_reports(made, name):
    expected = images.info(made[name])

    info = qcow2.parse(_file_bytes(made[name]))

    assert info.format == "qcow2"
    assert info.virtual_size == expected["virtual-size"]
    assert info.cluster_size == expected["cluster-size"]
    assert info.version == QEMU_COMPAT_VERSION[expected["format-specific"]["data"]["compat"]]
    assert info.backing_file == expected.get("backing-filename")
    assert info.backing_format == expected.get("backing-filename-format")
    assert info.encryption is None


def test_header_alone_is_enough(made):
    """The decoder needs the header area only, not the whole file."""
    head = _file_bytes(made["backing"])[:4096]

    assert qcow2.parse(head).backing_file == images.info(made["backing"])["backing-filename"]


def test_wrong_magic_is_refused(made):
    data = bytearray(_file_bytes(made["v3"]))
    data[0:4] = b"QFI\x00"

    with pytest.raises(ImageError, match="magic"):
        qcow2.parse(bytes(data))


def test_truncated_header_is_refused(made):
    with pytest.raises(ImageError, match="truncated"):
        qcow2.parse(_file_bytes(made["v3"])[:50])


def test_unknown_version_is_refused(made):
    data = bytearray(_file_bytes(made["v3"]))
    struct.pack_into(">I", data, 4, 4)

    with pytest.raises(ImageError, match="version 4"):
        qcow2.parse(bytes(data))
