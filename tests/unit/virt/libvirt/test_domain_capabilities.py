"""The domain capabilities parser against libvirt's XML: domain-qemu-x86_64.xml is what
libvirtd 9.0 answered on this machine (QEMU 7.2, no KVM; default machine type),
domain-qemu-q35-x86_64.xml the same for q35, domain-kvm-sev-x86_64.xml the first with SEV,
a secure boot loader and TPM versions as libvirt's documentation (formatdomaincaps) shows
them."""

from __future__ import annotations

import os

from resource_tracker.resources import GuestFeatures
from resource_tracker.virt.libvirt import domain_capabilities

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "fixtures", "capabilities")


def parsed(name: str) -> GuestFeatures:
    with open(os.path.join(FIXTURES, name)) as fixture:
        return domain_capabilities.parse(fixture.read())


def test_qemu_without_kvm():
    features = parsed("domain-qemu-x86_64.xml")

    assert features == GuestFeatures(
        disk_buses=frozenset({"ide", "fdc", "scsi", "virtio", "usb", "sata"}),
        video_models=frozenset(
            {"vga", "cirrus", "vmvga", "qxl", "virtio", "none", "bochs", "ramfb"}
        ),
        tpm_models=("tpm-tis", "tpm-crb"),
        tpm_versions=None,  # no backendVersion enum: not said
        tpm_emulator=False,  # the passthrough backend only
        secure_boot=False,
        sev=False,
    )


def test_sev_secure_boot_and_tpm_versions():
    features = parsed("domain-kvm-sev-x86_64.xml")

    assert (features.sev, features.sev_max_guests, features.sev_max_es_guests) == (True, 15, 494)
    assert features.secure_boot
    assert features.tpm_versions == ("1.2", "2.0") and features.tpm_emulator
    assert not features.sev_snp


def test_sev_snp_from_launch_security():
    features = parsed("domain-kvm-sev-snp-x86_64.xml")

    assert features.sev_snp and features.tpm_models == ("tpm-crb",)
    offered = "<features><launchSecurity supported='{}'><enum name='sectype'><value>{}</value>"
    for supported, sectype in (("no", "sev-snp"), ("yes", "sev")):
        xml = offered.format(supported, sectype) + "</enum></launchSecurity></features>"
        assert not domain_capabilities.parse(
            f"<domainCapabilities>{xml}</domainCapabilities>"
        ).sev_snp


def test_sev_not_supported_has_no_guests():
    xml = "<domainCapabilities><features><sev supported='no'><maxGuests>15</maxGuests>"
    features = domain_capabilities.parse(xml + "</sev></features></domainCapabilities>")

    assert (features.sev, features.sev_max_guests) == (False, None)


def test_no_devices_no_tpm():
    features = domain_capabilities.parse("<domainCapabilities/>")

    assert features == GuestFeatures(tpm_versions=())


def test_xml_that_does_not_parse_gives_nothing(caplog):
    assert domain_capabilities.parse("<domainCapabilities>") == GuestFeatures()
    assert "domain capabilities XML does not parse" in caplog.text


def test_machine_types_merged_as_nova_unions_them():
    default, q35, sev = (
        parsed(name)
        for name in ("domain-qemu-x86_64.xml", "domain-qemu-q35-x86_64.xml",
                     "domain-kvm-sev-x86_64.xml")
    )  # fmt: skip

    assert "ide" in default.disk_buses and "ide" not in q35.disk_buses  # q35 has no IDE
    both = domain_capabilities.merged([q35, default])
    assert both.disk_buses == default.disk_buses | q35.disk_buses
    assert both.tpm_versions == q35.tpm_versions and not both.sev
    with_sev = domain_capabilities.merged([default, sev])
    assert (with_sev.sev, with_sev.sev_max_guests, with_sev.secure_boot) == (True, 15, True)
    assert not with_sev.tpm_emulator  # the first machine type's TPM, as Nova reads it
    snp = parsed("domain-kvm-sev-snp-x86_64.xml")
    assert domain_capabilities.merged([default, snp]).sev_snp
