"""Libvirt's domain capabilities XML (virConnectGetDomainCapabilities) as GuestFeatures:
the disk buses, video models, TPM, secure boot, SEV and SEV-SNP Nova 34's libvirt driver
derives its COMPUTE_* capability traits and MEM_ENCRYPTION_CONTEXT inventories from.

Read as Nova's config classes read them (nova/virt/libvirt/config.py
LibvirtConfigDomainCaps*): the disk buses are every `<enum name='bus'>` value of the
document (Nova's XPath is absolute, so a `<redirdev>`'s bus counts too), the video models
every `<enum name='modelType'>` value; a device without `supported='yes'` still lists what
its enums hold, as Nova reads it. XML that does not parse gives no features.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from lxml import etree

from resource_tracker.resources import GuestFeatures
from resource_tracker.virt.libvirt.xml import int_or

LOG = logging.getLogger(__name__)

NONE = GuestFeatures()


def parse(xml: str) -> GuestFeatures:
    try:
        root = etree.fromstring(xml.encode())
    except (etree.XMLSyntaxError, ValueError) as error:
        LOG.warning("domain capabilities XML does not parse (%s): no guest features", error)
        return NONE
    tpm = root.find("devices/tpm")
    sev = root.find("features/sev")
    if sev is None or sev.get("supported") != "yes":
        sev = None
    return GuestFeatures(
        disk_buses=frozenset(_values(root, "//enum[@name='bus']")),
        video_models=frozenset(_values(root, "//enum[@name='modelType']")),
        tpm_models=tuple(_values(tpm, "enum[@name='model']")) if tpm is not None else (),
        tpm_versions=_tpm_versions(tpm),
        tpm_emulator=tpm is not None
        and tpm.get("supported") == "yes"
        and "emulator" in _values(tpm, "enum[@name='backendModel']"),
        secure_boot="yes" in _values(root, "os/loader/enum[@name='secure']"),
        sev=sev is not None,
        sev_max_guests=None if sev is None else int_or(sev.findtext("maxGuests"), None),
        sev_max_es_guests=None if sev is None else int_or(sev.findtext("maxESGuests"), None),
        sev_snp=_offers_sev_snp(root.find("features/launchSecurity")),
    )


def merged(features: Sequence[GuestFeatures]) -> GuestFeatures:
    """The features of several machine types of one architecture, as Nova unions them
    (disk buses, video models; secure boot, SEV or SEV-SNP if any has it, SEV's guests as
    the first that has it says); TPM as the first says."""
    first = features[0]
    sev = next((f for f in features if f.sev), first)
    return GuestFeatures(
        disk_buses=frozenset().union(*(f.disk_buses for f in features)),
        video_models=frozenset().union(*(f.video_models for f in features)),
        tpm_models=first.tpm_models,
        tpm_versions=first.tpm_versions,
        tpm_emulator=first.tpm_emulator,
        secure_boot=any(f.secure_boot for f in features),
        sev=sev.sev,
        sev_max_guests=sev.sev_max_guests,
        sev_max_es_guests=sev.sev_max_es_guests,
        sev_snp=any(f.sev_snp for f in features),
    )


def _values(element, path: str) -> list[str]:
    return [str(text) for text in element.xpath(f"{path}/value/text()")]


def _offers_sev_snp(launch_security) -> bool:
    if launch_security is None or launch_security.get("supported") != "yes":
        return False
    return "sev-snp" in _values(launch_security, "enum[@name='sectype']")


def _tpm_versions(tpm) -> tuple[str, ...] | None:
    if tpm is None:
        return ()
    # as Nova's: no version listed (libvirt before 8.6 has no such enum) is "not said"
    return tuple(_values(tpm, "enum[@name='backendVersion']")) or None
