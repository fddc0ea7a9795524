"""[placement]: the Placement service this host's provider tree is reported to (opt-in).

The options are keystoneauth1's, registered by its `loading` helpers as Nova's
nova/conf/placement.py registers them (session, auth, adapter), so the [placement] section
of nova.conf works here as it is: `auth_type` names a keystoneauth plugin (`password`,
`v3applicationcredential`, `admin_token`, `noauth`, ...) whose own options (`auth_url`,
`username`, ..., or `endpoint` and `token`) are read once `auth_type` says which they are.
Reporting is on only with `report = true` and an `auth_type`: a host whose nova-compute
reports its own tree must not have two writers of one provider.

keystoneauth1 itself (~8.5 MiB with requests) is imported only to read an auth plugin's
options or to talk to Placement: the section's own options are written out in
placement_ksa, and the daemon reads the plugin's options only when it reports
(`credentials_wanted`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from oslo_config import cfg

from resource_tracker.conf import placement_ksa
from resource_tracker.exception import ConfigError
from resource_tracker.timeouts import PLACEMENT_CALL_S

if TYPE_CHECKING:
    from keystoneauth1 import adapter as ks_adapter

GROUP = "placement"

report_opts = [
    cfg.BoolOpt(
        "report",
        default=False,
        help="Report this host's resource provider (inventories, traits) to the Placement "
        "service the other options of this section reach, as nova-compute does. Off: "
        "nothing is sent. Leave off where nova-compute runs beside this daemon and "
        "reports the same provider. See docs/placement.md.",
    ),
    cfg.IntOpt(
        "refresh_audits",
        default=10,
        min=1,
        help="An idle host sends nothing; every this many audits it reads its provider's "
        "generation to see changes others made (ratios, traits).",
    ),
]


opts = report_opts + placement_ksa.OPTS


def plugin_opts(auth_type: str | None) -> list[cfg.Opt]:
    """The options of the auth plugin `auth_type` names (none when unset)."""
    if not auth_type:
        return []
    from keystoneauth1 import exceptions as ks_exceptions
    from keystoneauth1 import loading as ks_loading

    try:
        return ks_loading.get_auth_plugin_conf_options(auth_type)
    except ks_exceptions.NoMatchingPlugin:
        raise ConfigError(
            f"[{GROUP}] auth_type = {auth_type}: no such keystoneauth plugin"
        ) from None


def dynamic_groups(conf: cfg.ConfigOpts, plugin: bool = True) -> list[tuple[str, list[cfg.Opt]]]:
    """The options of the plugin `auth_type` names, in [placement] (as keystoneauth reads
    them; `auth_section` elsewhere is not supported); none unless `plugin`."""
    return [(GROUP, plugin_opts(conf[GROUP].auth_type))] if plugin else []


def credentials_wanted(conf: cfg.ConfigOpts) -> bool:
    """Whether the daemon reads the auth plugin's options: when it reports, or when our own
    files name a plugin (so its options there are checked). nova.conf's alone, with
    reporting off, are not read: keystoneauth1 stays out of the process."""
    location = conf.get_location("auth_type", GROUP)
    return enabled(conf) or (location is not None and location.location is cfg.Locations.user)


def enabled(conf: cfg.ConfigOpts) -> bool:
    return bool(conf[GROUP].report)


def adapter(conf: cfg.ConfigOpts) -> ks_adapter.Adapter:
    """A keystoneauth Adapter for the Placement API; every request's time limit is
    PLACEMENT_CALL_S unless [placement] timeout is shorter."""
    from keystoneauth1 import loading as ks_loading

    auth = ks_loading.load_auth_from_conf_options(conf, GROUP)
    timeout = conf[GROUP].timeout
    session = ks_loading.load_session_from_conf_options(
        conf,
        GROUP,
        auth=auth,
        timeout=min(timeout, PLACEMENT_CALL_S) if timeout else PLACEMENT_CALL_S,
    )
    return ks_loading.load_adapter_from_conf_options(conf, GROUP, session=session, auth=auth)


def check(conf: cfg.ConfigOpts) -> None:
    if not enabled(conf):
        return
    if conf[GROUP].auth_section:
        raise ConfigError(f"[{GROUP}] auth_section is not supported: set the options here")
    if not conf[GROUP].auth_type:
        raise ConfigError(f"[{GROUP}] report = true needs auth_type (and its options)")
    from keystoneauth1 import exceptions as ks_exceptions

    try:
        adapter(conf)
    except (ks_exceptions.ClientException, ValueError, TypeError) as error:
        raise ConfigError(f"[{GROUP}] cannot be used: {error}") from None
