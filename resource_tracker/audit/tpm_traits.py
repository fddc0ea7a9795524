"""The vTPM traits Nova 34's libvirt driver reports (LibvirtDriver._get_tpm_traits, with
Host.tpm_models and tpm_versions: the domain capabilities of the first machine type):

- [libvirt] swtpm_enabled off: COMPUTE_SECURITY_TPM_1_2, _2_0, _TIS and _CRB are removed;
- on: _TIS for the model tpm-tis, _CRB for tpm-crb; _2_0 and _1_2 for the backend versions
  libvirt offers (both where libvirt does not say, before 8.6), each removed otherwise; and
  COMPUTE_SECURITY_TPM_SECRET_SECURITY_<POLICY> for each of supported_tpm_secret_security
  (set, never removed, as Nova).

Nova's compute refuses to start with swtpm_enabled where libvirt has no emulated TPM (a
<tpm> supported with the backend model 'emulator') or swtpm_user or swtpm_group is not on
the host (_check_vtpm_support): then the four are removed and the reason said once.
Unknown domain capabilities (None) give none and remove none.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from resource_tracker.resources import GuestFeatures

LOG = logging.getLogger(__name__)

TPM_1_2 = "COMPUTE_SECURITY_TPM_1_2"
TPM_2_0 = "COMPUTE_SECURITY_TPM_2_0"
TPM_TIS = "COMPUTE_SECURITY_TPM_TIS"
TPM_CRB = "COMPUTE_SECURITY_TPM_CRB"
TPM = frozenset({TPM_1_2, TPM_2_0, TPM_TIS, TPM_CRB})
SECRET_SECURITY = "COMPUTE_SECURITY_TPM_SECRET_SECURITY_"
SECRET_POLICIES = ("user", "host", "deployment")  # the ones Nova 34 reads, in its order
NO_EMULATOR = (
    "[libvirt] swtpm_enabled is set but libvirt offers no emulated TPM (swtpm missing?): "
    "Nova's compute refuses to start so; no TPM trait is reported"
)


@dataclass(frozen=True, slots=True)
class Vtpm:
    """[libvirt] swtpm_enabled and supported_tpm_secret_security; `missing` names the
    swtpm_user or swtpm_group the host lacks (then vTPM is off, as Nova cannot start)."""

    enabled: bool = False
    secret_security: tuple[str, ...] = SECRET_POLICIES
    missing: str | None = None


NO_VTPM = Vtpm()


def tpm_traits(
    features: GuestFeatures | None, vtpm: Vtpm, said: set[str]
) -> tuple[frozenset[str], frozenset[str]]:
    """(the TPM traits the host has, the TPM traits this daemon decides)."""
    if not vtpm.enabled:
        return frozenset(), TPM
    if vtpm.missing is not None:
        _say(
            f"[libvirt] swtpm_enabled is set but {vtpm.missing}: Nova's compute refuses to "
            "start so; no TPM trait is reported",
            said,
        )
        return frozenset(), TPM
    if features is None:
        return frozenset(), frozenset()
    if not features.tpm_emulator:
        _say(NO_EMULATOR, said)
        return frozenset(), TPM
    versions = features.tpm_versions
    found = {
        TPM_TIS: "tpm-tis" in features.tpm_models,
        TPM_CRB: "tpm-crb" in features.tpm_models,
        TPM_2_0: versions is None or "2.0" in versions,
        TPM_1_2: versions is None or "1.2" in versions,
    }
    secret = {SECRET_SECURITY + p.upper() for p in SECRET_POLICIES if p in vtpm.secret_security}
    has = _known({trait for trait, on in found.items() if on} | secret)
    return has, TPM | has


def _known(traits: set[str]) -> frozenset[str]:
    """Those os-traits names (Nova drops the others: ot.check_traits)."""
    import os_traits

    return frozenset(traits) & frozenset(os_traits.get_traits(prefix="COMPUTE_SECURITY_TPM"))


def _say(problem: str, said: set[str]) -> None:
    if problem not in said:
        LOG.warning("%s", problem)
        said.add(problem)
