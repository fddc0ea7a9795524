"""The domain capabilities' traits from the suite's real libvirtd to the real Placement, as
the daemon wires them ([placement] report on: a short-lived read-write connection), equal
to what Nova 34's code derives from the same XML; and a refused read: one line, none of
those traits, the row written every audit."""

from __future__ import annotations

import logging

import libvirt
import pytest

from resource_tracker.cmd import daemon
from resource_tracker.virt import kvm_amd
from resource_tracker.virt.libvirt.connection import LibvirtConnection
from resource_tracker.virt.libvirt.driver import LibvirtDriver
from resource_tracker.virt.libvirt.guest_features import GuestFeaturesReader
from tests.functional.test_nova_placement import novas_tree
from tests.functional.test_placement import api, make_host, provider  # noqa: F401 (fixtures)

# what the domain capabilities decide (COMPUTE_SECURITY_STATELESS_FIRMWARE: libvirt's version)
GUEST_TRAITS = (
    "COMPUTE_STORAGE_BUS_",
    "COMPUTE_GRAPHICS_MODEL_",
    "COMPUTE_SECURITY_UEFI_SECURE_BOOT",
    "COMPUTE_SECURITY_TPM_",
)
LOGGER = "resource_tracker.virt.libvirt.guest_features"


def guest_traits(traits) -> set[str]:
    return {t for t in traits if t.startswith(GUEST_TRAITS)}


@pytest.mark.libvirtd
def test_the_real_libvirtds_guest_traits_reach_placement_as_novas(
    api,  # noqa: F811
    make_host,  # noqa: F811
    libvirtd,
    mixed_host,
    tmp_path,
):
    host = make_host(uri=libvirtd.uri)
    result = host.audit()
    assert result.placement is not None and result.placement.failure is None
    ours = guest_traits(provider(api, host.row()["uuid"])["traits"])

    conn = libvirt.open(libvirtd.uri)
    try:
        xml = {
            "pc": conn.getDomainCapabilities(None, "x86_64", None),
            "q35": conn.getDomainCapabilities(None, "x86_64", "q35"),
        }
    finally:
        conn.close()
    novas = novas_tree(
        mixed_host, tmp_path, domain_caps=xml, kvm_amd=sorted(kvm_amd.sev_parameters())
    )
    theirs = set(novas["traits"])

    assert ours == guest_traits(theirs)
    assert {"COMPUTE_STORAGE_BUS_VIRTIO", "COMPUTE_GRAPHICS_MODEL_VIRTIO"} <= ours


@pytest.mark.libvirtd
def test_a_refused_read_is_one_line_no_traits_and_the_row_every_audit(
    api,  # noqa: F811
    make_host,  # noqa: F811
    libvirtd,
    caplog,
):
    """The daemon's user without read-write access: libvirtd refuses the domain capabilities
    (the reader's connection opened read-only here, so libvirtd's own refusal is met)."""
    caplog.set_level(logging.INFO, LOGGER)
    host = make_host(uri=libvirtd.uri)
    host.driver.close()
    reader = GuestFeaturesReader(libvirtd.uri, libvirt.openReadOnly)
    host.driver = LibvirtDriver(
        LibvirtConnection(libvirtd.uri), daemon.local_storage(host.conf), guest_reader=reader
    )
    host.tracker = daemon.resource_tracker(host.conf, host.driver, host.database)

    beats = []
    for _ in range(3):
        result = host.audit()
        assert result.placement is not None and result.placement.failure is None
        beats.append(host.row()["report_count"])

    assert beats == [beats[0], beats[0] + 1, beats[0] + 2]  # the row, every audit
    assert reader.reads == 1
    (said,) = [r for r in caplog.records if r.name == LOGGER]
    assert said.levelno == logging.WARNING and "usermod -aG libvirt" in said.getMessage()
    traits = provider(api, host.row()["uuid"])["traits"]
    assert "COMPUTE_NODE" in traits and not guest_traits(traits)
