"""qcow2 header decoding, checked against what qemu-img says of images it made."""

from __future__ import annotations

import os
import re
import struct
import subprocess
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resource_tracker.exception import ImageError
from resource_tracker.resources import ImageInfo
from resource_tracker.virt import qcow2
from tests.support import hostile, images

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


def test_encrypted_image_still_gives_its_size(tmp_path):
    path = images.every_kind(tmp_path)["luks"].path
    expected = images.info(path, "qcow2")

    info = qcow2.parse(_file_bytes(path))

    assert info.encryption == expected["format-specific"]["data"]["encrypt"]["format"] == "luks"
    assert info.virtual_size == expected["virtual-size"]


def test_external_data_file_is_named(tmp_path):
    path = images.create(tmp_path / "d.qcow2", "qcow2", "1G", "-o", f"data_file={tmp_path}/d.raw")

    info = qcow2.parse(_file_bytes(path))

    assert info.data_file == images.info(path)["format-specific"]["data"]["data-file"]


def test_extended_l2_image_is_accepted(tmp_path):
    path = images.create(tmp_path / "e.qcow2", "qcow2", "3G", "-o", "extended_l2=on")

    assert qcow2.parse(_file_bytes(path)).virtual_size == images.info(path)["virtual-size"]


@pytest.fixture(scope="module")
def hostile_bases(tmp_path_factory):
    return hostile.make_bases(tmp_path_factory.mktemp("hostile"))


# QEMU opens these two; we cannot measure them (see qcow2.py), so we are stricter.
QEMU_OPENS = {"backing-offset-past-end-of-file", "data-file-bit-without-name"}


@pytest.mark.parametrize("name", sorted(hostile.CASES))
def test_hostile_header_is_refused_with_its_reason(hostile_bases, name, tmp_path):
    case = hostile.CASES[name]
    data = hostile.make(case, hostile_bases)
    path = tmp_path / "hostile.qcow2"
    path.write_bytes(data)

    with pytest.raises(ImageError, match=re.escape(case.reason)):
        qcow2.parse(data)
    if name not in QEMU_OPENS:
        with pytest.raises(subprocess.CalledProcessError):
            images.info(path, "qcow2")


@pytest.mark.parametrize("name", ["v2", "v3", "backing", "backing-v2", "2m-clusters"])
def test_header_truncated_anywhere_is_refused(made, name):
    """Every prefix shorter than what the decoder needs is refused, none is misread."""
    data = _file_bytes(made[name])
    needed = next(length for length in range(1, 4097) if _parses(data[:length]))

    for length in range(needed):
        with pytest.raises(ImageError, match="truncated"):
            qcow2.parse(data[:length])
    assert qcow2.parse(data[:needed]).virtual_size == images.info(made[name])["virtual-size"]
    assert needed >= qcow2.V2_HEADER_LENGTH


def _parses(data: bytes) -> bool:
    try:
        qcow2.parse(data)
    except ImageError:
        return False
    return True


@settings(max_examples=2000, deadline=timedelta(seconds=1))  # a hang, not a slow CI
@given(st.binary(max_size=8192))
def test_any_bytes_give_an_image_info_or_an_image_error(data):
    try:
        info = qcow2.parse(data)
    except ImageError:
        return
    assert isinstance(info, ImageInfo)


@settings(max_examples=2000, deadline=timedelta(seconds=1))  # a hang, not a slow CI
@given(st.data())
def test_any_real_header_with_bytes_changed_gives_info_or_error(made, data):
    """Random bytes rarely get past the magic; these start from a real header instead."""
    header = bytearray(_file_bytes(made[data.draw(st.sampled_from(sorted(made)))])[:4096])
    for _ in range(data.draw(st.integers(1, 8))):
        offset = data.draw(st.integers(0, 600))
        header[offset] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(header)))
    try:
        info = qcow2.parse(bytes(header[:cut]))
    except ImageError:
        return
    assert isinstance(info, ImageInfo)
    assert 0 <= info.virtual_size <= qcow2.MAX_VIRTUAL_SIZE


def _with_name_replaced(path, old: bytes, new: bytes) -> bytes:
    """The image's bytes with the name `old` overwritten in place by `new` (same length)."""
    assert len(old) == len(new)
    data = bytearray(_file_bytes(path))
    at = data.index(old)
    data[at : at + len(old)] = new
    return bytes(data)


def test_names_end_at_their_first_nul_as_in_qemu(tmp_path):
    """QEMU reads header names as C strings: what follows a NUL is not part of the name."""
    base = images.create(tmp_path / "base.qcow2", "qcow2", "1G")
    overlay = images.create(
        tmp_path / "overlay.qcow2", "qcow2", "1G", "-b", "base.qcow2", "-F", "qcow2",
        "-o", f"data_file={tmp_path}/data.raw",
    )  # fmt: skip
    data = _with_name_replaced(overlay, b"data.raw", b"d\0\n<3>\xff\x00")
    data = data.replace(b"base.qcow2", b"base\0.junk", 1)
    (tmp_path / "overlay.qcow2").write_bytes(data)
    images.create(tmp_path / "d", "raw", "1G")
    os.rename(base, tmp_path / "base")
    qemu = images.info(tmp_path / "overlay.qcow2", "qcow2")

    info = qcow2.parse(data)

    assert info.data_file == qemu["format-specific"]["data"]["data-file"] == f"{tmp_path}/d"
    assert info.backing_file == qemu["backing-filename"] == "base"


def test_a_name_that_is_not_utf8_names_the_file_qemu_opens(tmp_path):
    name = os.fsencode(tmp_path) + b"/d\xff\xfe.raw"
    subprocess.run(
        [b"qemu-img", b"create", b"-q", b"-f", b"qcow2", b"-o", b"data_file=" + name,
         os.fsencode(tmp_path / "d.qcow2"), b"1G"],
        check=True,
    )  # fmt: skip

    info = qcow2.parse(_file_bytes(tmp_path / "d.qcow2"))

    assert os.fsencode(info.data_file) == name
    assert os.stat(info.data_file).st_ino == os.stat(name).st_ino


def test_a_name_that_is_empty_before_its_nul_is_no_name(tmp_path):
    data_file = f"data_file={tmp_path}/data.raw"
    path = images.create(tmp_path / "d.qcow2", "qcow2", "1G", "-o", data_file)
    data = _with_name_replaced(path, os.fsencode(tmp_path), b"\0" * len(os.fsencode(tmp_path)))

    with pytest.raises(ImageError, match="names no data file"):
        qcow2.parse(data)


def test_a_backing_format_name_of_16_bytes_is_refused_as_qemu_refuses_it(tmp_path):
    base = images.create(tmp_path / "base.qcow2", "qcow2", "1G")
    path = images.create(tmp_path / "o.qcow2", "qcow2", "1G", "-b", base, "-F", "qcow2")
    data = bytearray(_file_bytes(path))
    at = data.index(struct.pack(">II", qcow2.EXT_BACKING_FORMAT, 5))
    struct.pack_into(">I", data, at + 4, 16)  # the next extension is read as name bytes
    (tmp_path / "o.qcow2").write_bytes(data)

    with pytest.raises(ImageError, match="name of 16 bytes"):
        qcow2.parse(bytes(data))
    with pytest.raises(subprocess.CalledProcessError) as refused:
        images.info(tmp_path / "o.qcow2", "qcow2")
    assert "ext_backing_format: len=16 too large" in refused.value.stderr


def test_a_size_in_part_sectors_is_taken_in_whole_sectors_as_qemu_takes_it(made, tmp_path):
    data = bytearray(_file_bytes(made["v3"]))
    struct.pack_into(">Q", data, 24, 5 * 2**30 - 1)
    (tmp_path / "odd.qcow2").write_bytes(data)

    info = qcow2.parse(bytes(data))

    assert info.virtual_size == images.info(tmp_path / "odd.qcow2", "qcow2")["virtual-size"]
    assert info.virtual_size == 5 * 2**30 - 512
