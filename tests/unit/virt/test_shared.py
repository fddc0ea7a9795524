"""Which storage instances_path is on: mountinfo of network file systems, and the marker that
`storage init` writes, with the copies a cloned host image or a copied directory leaves."""

from __future__ import annotations

import json
import os
import shutil
import tempfile

import pytest

from resource_tracker.virt import shared
from tests.support.quiet_fs import own_file_system

ROOT_MOUNT = "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n"


def mountinfo(tmp_path, *lines: str) -> str:
    path = tmp_path / "mountinfo"
    path.write_text(ROOT_MOUNT + "".join(lines))
    return str(path)


def mount_line(mount_point, fstype, source, mount_id=90) -> str:
    escaped = os.fspath(mount_point).replace(" ", "\\040")
    return f"{mount_id} 27 0:53 / {escaped} rw,relatime shared:40 - {fstype} {source} rw\n"


@pytest.fixture
def instances(tmp_path):
    path = tmp_path / "instances"
    path.mkdir()
    return path


@pytest.fixture
def machine_id(tmp_path):
    path = tmp_path / "machine-id"
    path.write_text("0123456789abcdef0123456789abcdef\n")
    return str(path)


def identify(path, mounts, machine_id):
    return shared.StorageIdentifier(os.fspath(path), mounts, machine_id).identify()


@pytest.mark.parametrize(
    ("fstype", "source", "expected"),
    [
        ("nfs4", "fs1.example.org:/export/nova", "nfs:fs1.example.org:/export/nova"),
        ("nfs", "fs1.example.org:/export/nova", "nfs:fs1.example.org:/export/nova"),
        ("ceph", "10.0.0.1:6789,10.0.0.2:6789:/nova", "ceph:10.0.0.1:6789,10.0.0.2:6789:/nova"),
        ("fuse.glusterfs", "gluster1:/instances", "fuse.glusterfs:gluster1:/instances"),
    ],
)
def test_a_network_file_system_is_named_by_its_type_and_source(
    tmp_path, instances, machine_id, fstype, source, expected
):
    mounts = mountinfo(tmp_path, mount_line(instances, fstype, source))

    identity = identify(instances, mounts, machine_id)

    assert (identity.shared_id, identity.how, identity.problem) == (expected, "mount", None)


def test_a_local_file_system_is_this_hosts_own(tmp_path, instances, machine_id):
    identity = identify(instances, mountinfo(tmp_path), machine_id)

    assert identity.shared_id is None
    assert identity.mount.fstype == "ext4"
    assert identity.problem is None


def test_the_deepest_mount_holding_the_path_counts_and_the_last_of_a_stack(
    tmp_path, instances, machine_id
):
    lines = (
        mount_line(tmp_path, "nfs4", "outer:/export", 90),
        mount_line(instances, "nfs4", "first:/export", 91),
        mount_line(instances, "nfs4", "second:/export", 92),  # mounted over the first
        mount_line(tmp_path / "instances-other", "nfs4", "other:/export", 93),
    )
    subdirectory = instances / "sub"
    subdirectory.mkdir()

    identity = identify(subdirectory, mountinfo(tmp_path, *lines), machine_id)

    assert identity.shared_id == "nfs:second:/export"


def test_a_mount_point_with_a_space_is_unescaped(tmp_path, machine_id):
    spaced = tmp_path / "nova instances"
    spaced.mkdir()
    mounts = mountinfo(tmp_path, mount_line(spaced, "nfs", "fs1:/export"))

    assert identify(spaced, mounts, machine_id).mount.mount_point == os.fspath(spaced)


def test_a_source_that_names_no_share_is_not_trusted(tmp_path, instances, machine_id):
    # ceph-fuse mounts every cluster with the source "ceph-fuse": two clusters would merge
    mounts = mountinfo(tmp_path, mount_line(instances, "fuse.ceph-fuse", "ceph-fuse"))

    identity = identify(instances, mounts, machine_id)

    assert identity.shared_id is None
    assert "storage init" in identity.problem


def test_the_marker_names_the_storage(tmp_path, instances, machine_id):
    mounts = mountinfo(tmp_path)
    storage_id = shared.write_marker(os.fspath(instances), mounts, machine_id)

    identity = identify(instances, mounts, machine_id)

    assert (identity.shared_id, identity.how, identity.problem) == (
        f"marker:{storage_id}",
        "marker",
        None,
    )


def test_the_marker_wins_over_the_mount_source(tmp_path, instances, machine_id):
    # clients that mount one share by different names (an address here, a name there) agree
    by_name = mountinfo(tmp_path, mount_line(instances, "nfs4", "fs1.example.org:/export"))
    storage_id = shared.write_marker(os.fspath(instances), by_name, machine_id)
    by_address = mountinfo(tmp_path, mount_line(instances, "nfs", "10.0.0.5:/export"))

    assert identify(instances, by_address, machine_id).shared_id == f"marker:{storage_id}"


def test_a_marker_on_a_network_file_system_holds_on_every_machine(tmp_path, instances, machine_id):
    mounts = mountinfo(tmp_path, mount_line(instances, "nfs4", "fs1:/export"))
    storage_id = shared.write_marker(os.fspath(instances), mounts, machine_id)
    other_machine = tmp_path / "other-machine-id"
    other_machine.write_text("fedcba9876543210fedcba9876543210\n")

    identity = identify(instances, mounts, str(other_machine))

    assert identity.shared_id == f"marker:{storage_id}"


def test_a_cloned_host_image_does_not_make_two_local_disks_look_shared(
    tmp_path, instances, machine_id
):
    # A block-level clone keeps the marker's inode, the file system's id and type: only the
    # machine differs. A local file system cannot be shared, so the marker is not honoured.
    mounts = mountinfo(tmp_path)
    shared.write_marker(os.fspath(instances), mounts, machine_id)
    clone = tmp_path / "clone-machine-id"
    clone.write_text("fedcba9876543210fedcba9876543210\n")

    identity = identify(instances, mounts, str(clone))

    assert identity.shared_id is None
    assert "another machine" in identity.problem


def test_a_marker_copied_to_another_file_system_is_detected(tmp_path, instances, machine_id):
    shared.write_marker(os.fspath(instances), shared.MOUNTINFO, machine_id)
    with tempfile.TemporaryDirectory(dir="/dev/shm") as elsewhere:
        assert os.stat(elsewhere).st_dev != os.stat(instances).st_dev  # tmpfs, not /tmp's
        shutil.copy2(instances / shared.MARKER_NAME, elsewhere)

        identity = shared.StorageIdentifier(elsewhere, machine_id=machine_id).identify()

    assert identity.shared_id is None
    assert "made on another file system" in identity.problem


def test_a_marker_copied_within_the_file_system_is_detected(tmp_path, instances, machine_id):
    mounts = mountinfo(tmp_path, mount_line(tmp_path, "nfs4", "fs1:/export"))
    shared.write_marker(os.fspath(instances), mounts, machine_id)
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copy2(instances / shared.MARKER_NAME, copy)

    identity = identify(copy, mounts, machine_id)

    # the share's own mount still names it; the copied marker does not
    assert (identity.shared_id, identity.how) == ("nfs:fs1:/export", "mount")
    assert "copied" in identity.problem


@pytest.mark.parametrize("content", [b"", b"{not json", b'{"storage_id": 7}', b"[]"])
def test_a_file_that_is_no_marker_is_ignored(tmp_path, instances, machine_id, content):
    (instances / shared.MARKER_NAME).write_bytes(content)

    identity = identify(instances, mountinfo(tmp_path), machine_id)

    assert identity.shared_id is None
    assert "ignored" in identity.problem


def test_the_marker_records_where_it_was_made(tmp_path, instances, machine_id):
    shared.write_marker(os.fspath(instances), mountinfo(tmp_path), machine_id)

    marker = instances / shared.MARKER_NAME
    content = json.loads(marker.read_text())
    assert content["inode"] == os.stat(marker).st_ino
    assert content["fstype"] == "ext4"
    assert content["fsid"] == os.statvfs(instances).f_fsid
    assert content["machine_id"] == "0123456789abcdef0123456789abcdef"
    assert not [name for name in os.listdir(instances) if name.endswith(".tmp")]


def test_a_very_long_source_still_fits_the_column(tmp_path, instances, machine_id):
    source = "fs1:/" + "x" * 400
    mounts = mountinfo(tmp_path, mount_line(instances, "nfs", source))

    first = identify(instances, mounts, machine_id).shared_id
    other = identify(
        instances, mountinfo(tmp_path, mount_line(instances, "nfs", source + "y")), machine_id
    ).shared_id

    assert len(first) <= shared.MAX_ID_LENGTH and len(other) <= shared.MAX_ID_LENGTH
    assert first != other


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a file system takes root")
def test_a_watching_identifier_sees_a_mount_made_and_removed_between_its_calls(tmp_path):
    """The daemon's identifier keeps the mounts and reads them again once they change."""
    instances = tmp_path / "instances"
    identifier = shared.StorageIdentifier(os.fspath(instances), watch_mounts=True)
    try:
        before = identifier.identify().mount
        with own_file_system(instances):
            during = identifier.identify().mount
        after = identifier.identify().mount
    finally:
        identifier.close()

    assert during is not None and during.fstype == "tmpfs"
    assert during.mount_point == os.fspath(instances)
    assert before == after != during
