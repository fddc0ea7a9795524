"""The kvm_amd kernel module's SEV parameters, as Nova 34 reads them (nova/virt/libvirt/
host.py _kernel_supports_amd_sev): /sys/module/kvm_amd/parameters/{sev,sev_es,sev_snp},
each 'Y' or '1' when on. A file that is missing (no kvm_amd module: an Intel host) or
unreadable counts as off, as Nova counts it: SEV is never reported on a guess.
"""

from __future__ import annotations

from pathlib import Path

PARAMETERS = Path("/sys/module/kvm_amd/parameters")
SEV_PARAMETERS = ("sev", "sev_es", "sev_snp")
# oslo's bool_from_string, which Nova reads them with, takes these as true
TRUE = frozenset({"1", "t", "true", "on", "y", "yes"})


def sev_parameters(directory: Path = PARAMETERS) -> frozenset[str]:
    """The SEV parameters of kvm_amd that are on."""
    return frozenset(name for name in SEV_PARAMETERS if _on(directory / name))


def _on(path: Path) -> bool:
    try:
        return path.read_text(errors="replace").strip().lower() in TRUE
    except OSError:
        return False
