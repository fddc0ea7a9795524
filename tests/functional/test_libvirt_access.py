"""What the shipped unit and Debian package grant of libvirt: read-only only. Read-write
access (group libvirt, which Debian's polkit rule lets open /run/libvirt/libvirt-sock) is
root's power over the host, so it is the operator's choice, named by the one log line of
a refused domain capabilities read and by the deploy docs alike."""

from __future__ import annotations

import re
from pathlib import Path

from resource_tracker.virt.libvirt.guest_features import FIX
from tests.support.paths import ROOT as ROOT_DIR

ROOT = Path(ROOT_DIR)


def test_the_unit_and_the_package_do_not_grant_read_write_libvirt():
    unit = (ROOT / "etc" / "systemd" / "resource-tracker.service").read_text()
    sysusers = (ROOT / "debian" / "resource-tracker.sysusers").read_text()
    postinst = (ROOT / "debian" / "resource-tracker.postinst").read_text()

    assert not re.search(r"^\s*SupplementaryGroups=", unit, re.MULTILINE)
    assert re.search(r"^User=resource-tracker$", unit, re.MULTILINE)
    assert not re.search(r"^m\s+resource-tracker\s", sysusers, re.MULTILINE)
    assert not re.search(r"\b(usermod|adduser|gpasswd)\b", postinst)


def test_the_fix_the_log_line_names_is_the_documented_one():
    command = "usermod -aG libvirt resource-tracker"
    assert command in FIX and "read_domain_capabilities = false" in FIX
    for page in ("install.md", "placement.md", "operations.md"):
        assert command in (ROOT / "docs" / page).read_text(), page
