"""The root provider's traits against Nova 34's own update_provider_tree and compute
manager's capability traits on the suite's real libvirtd with QEMU (read-only, as the
daemon connects): libvirt's and QEMU's real versions and the QEMU driver decide the
version-gated traits here, which libvirt's test driver (type TEST) cannot show."""

from __future__ import annotations

import pytest

from resource_tracker.audit.provider import provider_tree
from resource_tracker.cmd import daemon
from tests.functional.test_nova_placement import (
    UPDATE_PROVIDER_TREE,
    audited,
    differing,
    lend_libvirt,
)
from tests.support import nova


@pytest.mark.libvirtd
def test_novas_traits_on_a_real_libvirtd_are_ours(libvirtd, config, tmp_path):
    conf, result = audited(config(uri=libvirtd.uri))
    tree = provider_tree("u", result.resources, result.values, daemon.provider_policy(conf))
    lent = tmp_path / "libvirt-lent"
    lent.mkdir()
    payload = {
        "uri": libvirtd.uri,
        "instances": str(conf.instances_path),
        "reserved_disk_mb": 0,
        "shared": None,
    }
    novas = nova.run_with(UPDATE_PROVIDER_TREE, payload, {"PYTHONPATH": lend_libvirt(lent)})

    theirs, ours = set(novas["traits"]), tree.root.traits
    assert theirs - differing(theirs) == ours - differing(ours)
    assert result.resources.hypervisor_type == "QEMU"
    assert {"COMPUTE_ADDRESS_SPACE_PASSTHROUGH", "COMPUTE_STORAGE_VIRTIO_FS"} <= ours
