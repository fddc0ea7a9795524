"""What the config says of the guest features: whether to read the domain capabilities
(over their own read-write connection) and the vTPM policy of the TPM traits."""

from __future__ import annotations

import grp
import pwd

from oslo_config import cfg

from resource_tracker.audit.tpm_traits import Vtpm
from resource_tracker.conf import placement as placement_conf
from resource_tracker.virt.libvirt.guest_features import GuestFeaturesReader


def guest_reader(conf: cfg.ConfigOpts) -> GuestFeaturesReader | None:
    """The reader of the domain capabilities, where they are used (the provider reported to
    Placement) and the operator lets the daemon open libvirt read-write for them."""
    if not (placement_conf.enabled(conf) and conf.libvirt.read_domain_capabilities):
        return None
    return GuestFeaturesReader(conf.libvirt.connection_uri)


def vtpm(conf: cfg.ConfigOpts) -> Vtpm:
    """[libvirt] swtpm_enabled and the options beside it, as Nova's compute checks them at
    start (a swtpm_user or swtpm_group this host lacks: Nova refuses to start)."""
    options = conf.libvirt
    missing = None
    if options.swtpm_enabled:
        missing = _missing(options.swtpm_user, options.swtpm_group)
    return Vtpm(options.swtpm_enabled, tuple(options.supported_tpm_secret_security or ()), missing)


def _missing(user: str, group: str) -> str | None:
    try:
        pwd.getpwnam(user)
    except KeyError:
        return f"[libvirt] swtpm_user {user!r} is not a user of this host"
    try:
        grp.getgrnam(group)
    except KeyError:
        return f"[libvirt] swtpm_group {group!r} is not a group of this host"
    return None
