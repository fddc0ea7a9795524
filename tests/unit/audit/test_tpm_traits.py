"""The vTPM traits by Nova 34's _get_tpm_traits and _check_vtpm_support (their match with
Nova's own code: tests/functional/test_nova_placement.py): off, on, unknown features, a
libvirt without the emulator, the versions libvirt does not say, a missing swtpm user."""

from __future__ import annotations

import logging

from resource_tracker.audit.tpm_traits import TPM, Vtpm, tpm_traits
from resource_tracker.resources import GuestFeatures

ON = Vtpm(enabled=True)
FEATURES = GuestFeatures(tpm_models=("tpm-tis",), tpm_versions=("2.0",), tpm_emulator=True)
SECRETS = {
    "COMPUTE_SECURITY_TPM_SECRET_SECURITY_USER",
    "COMPUTE_SECURITY_TPM_SECRET_SECURITY_HOST",
    "COMPUTE_SECURITY_TPM_SECRET_SECURITY_DEPLOYMENT",
}


def test_off_removes_the_four_whatever_libvirt_offers():
    assert tpm_traits(FEATURES, Vtpm(), set()) == (frozenset(), TPM)
    assert tpm_traits(None, Vtpm(), set()) == (frozenset(), TPM)


def test_on_models_versions_and_secret_policies():
    has, owned = tpm_traits(FEATURES, ON, set())

    assert has == {"COMPUTE_SECURITY_TPM_TIS", "COMPUTE_SECURITY_TPM_2_0"} | SECRETS
    assert owned == TPM | has  # the other two of the four are removed


def test_versions_not_said_are_both_and_secret_policies_as_configured():
    features = GuestFeatures(tpm_models=("tpm-crb",), tpm_versions=None, tpm_emulator=True)
    has, _ = tpm_traits(features, Vtpm(True, ("host",)), set())

    assert has == {
        "COMPUTE_SECURITY_TPM_CRB",
        "COMPUTE_SECURITY_TPM_1_2",
        "COMPUTE_SECURITY_TPM_2_0",
        "COMPUTE_SECURITY_TPM_SECRET_SECURITY_HOST",
    }


def test_unknown_features_give_and_remove_nothing():
    assert tpm_traits(None, ON, set()) == (frozenset(), frozenset())


def test_where_nova_would_not_start_none_said_once(caplog):
    caplog.set_level(logging.WARNING)
    said: set[str] = set()
    no_emulator = GuestFeatures(tpm_models=("tpm-tis",), tpm_versions=("2.0",))
    for _ in range(2):
        assert tpm_traits(no_emulator, ON, said) == (frozenset(), TPM)
        missing = Vtpm(True, missing="[libvirt] swtpm_user 'tss' is not a user of this host")
        assert tpm_traits(FEATURES, missing, said) == (frozenset(), TPM)

    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert "no emulated TPM" in lines[0] and "swtpm_user 'tss'" in lines[1]
