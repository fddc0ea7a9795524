"""What the config makes of the guest features: the read-write reader only where the
provider is reported and the operator allows it; the vTPM policy from nova.conf, off where
Nova's compute would refuse to start (a swtpm user or group the host lacks)."""

from __future__ import annotations

from resource_tracker.cmd.guest_features import guest_reader, vtpm
from tests.unit.conf.test_conf_nova import load as load_with_nova

PLACEMENT = "[placement]\nreport = true\nauth_type = admin_token\nendpoint = http://x\ntoken = t\n"


def load(tmp_path, ours: str, nova_text: str = ""):
    return load_with_nova(tmp_path, nova_text, ours)


def test_the_reader_only_reporting_to_placement_and_allowed(tmp_path):
    assert guest_reader(load(tmp_path, "")) is None  # no Placement: never read-write
    reader = guest_reader(load(tmp_path, PLACEMENT))
    assert reader is not None and reader.uri == "qemu:///system"
    strict = "[libvirt]\nread_domain_capabilities = false\n" + PLACEMENT
    assert guest_reader(load(tmp_path, strict)) is None


def test_vtpm_from_nova_conf(tmp_path):
    nova_text = (
        "[libvirt]\nswtpm_enabled = true\nswtpm_user = root\nswtpm_group = root\n"
        "supported_tpm_secret_security = host\n"
    )
    found = vtpm(load(tmp_path, "", nova_text))

    assert (found.enabled, found.secret_security, found.missing) == (True, ("host",), None)
    assert not vtpm(load(tmp_path, "")).enabled  # Nova's default: off


def test_vtpm_with_a_user_or_group_the_host_lacks(tmp_path):
    lacking = "[libvirt]\nswtpm_enabled = true\nswtpm_user = no-such-user-rt\n"
    found = vtpm(load(tmp_path, lacking))
    assert found.missing == "[libvirt] swtpm_user 'no-such-user-rt' is not a user of this host"

    lacking = "[libvirt]\nswtpm_enabled = true\nswtpm_user = root\nswtpm_group = no-such-rt\n"
    found = vtpm(load(tmp_path, lacking))
    assert found.missing == "[libvirt] swtpm_group 'no-such-rt' is not a group of this host"
