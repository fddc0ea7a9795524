"""nova.conf: the options this daemon shares with nova-compute, read from Nova's own files.

[DEFAULT] nova_config_file names the files nova-compute reads, in the order of its
--config-file arguments. For each option of SHARED, the value nova-compute uses (set in those
files, else Nova's own default) becomes this daemon's default, so our own file still overrides
it. Everything else in nova.conf is Nova's business: options and sections we do not know are
ignored there (our own file stays strict), and options whose meaning differs (NOT_SHARED, e.g.
[database], Nova's own database) are never read from it. Values are resolved as Nova resolves
them: a $state_path in nova.conf is Nova's state_path, not ours.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

from oslo_config import cfg

from resource_tracker.conf import compute, devices, libvirt, neutron, pci, placement
from resource_tracker.exception import ConfigError

# Nova's own default is $pybasedir (its Python package's directory); every distribution's
# nova.conf sets /var/lib/nova, which is what an unset state_path means here.
NOVA_STATE_PATH = "/var/lib/nova"
# [libvirt] connection_uri empty: nova-compute derives it from virt_type (LibvirtDriver._uri)
URI_OF_VIRT_TYPE = {"kvm": "qemu:///system", "qemu": "qemu:///system"}
PHYSNET = neutron.PHYSNET_GROUP.format("<name>")
SUBSTITUTION_ERRORS = (
    cfg.NoSuchOptError,
    cfg.NoSuchGroupError,
    cfg.TemplateSubstitutionError,
    RecursionError,
)


@dataclass(frozen=True)
class Shared:
    group: str
    name: str
    nova_default: str = "as ours"  # how nova-compute's default differs from ours, for the docs


SHARED = (
    Shared("DEFAULT", "host"),
    Shared(
        "DEFAULT",
        "my_ip",
        "the host's address, found on the host as ours is (ours also finds an IPv6 one)",
    ),
    Shared(
        "DEFAULT",
        "instances_path",
        f"`$state_path/instances`, Nova's `state_path` (unset: `{NOVA_STATE_PATH}`)",
    ),
    Shared("DEFAULT", "report_interval"),
    Shared("DEFAULT", "reserved_host_memory_mb"),
    Shared("DEFAULT", "reserved_host_disk_mb"),
    Shared("DEFAULT", "reserved_host_cpus"),
    Shared("DEFAULT", "cpu_allocation_ratio", "unset: `initial_cpu_allocation_ratio` (4.0)"),
    Shared("DEFAULT", "ram_allocation_ratio", "unset: `initial_ram_allocation_ratio` (1.0)"),
    Shared("DEFAULT", "disk_allocation_ratio", "unset: `initial_disk_allocation_ratio` (1.0)"),
    Shared("DEFAULT", "vcpu_pin_set"),
    Shared("DEFAULT", "reserved_huge_pages"),
    Shared(compute.GROUP, "cpu_shared_set"),
    Shared(compute.GROUP, "cpu_dedicated_set"),
    Shared(
        libvirt.GROUP, "connection_uri", "empty: from `virt_type` (`qemu:///system` for kvm, qemu)"
    ),
    Shared(libvirt.GROUP, "images_type"),
    Shared(libvirt.GROUP, "swtpm_enabled"),
    Shared(libvirt.GROUP, "swtpm_user"),
    Shared(libvirt.GROUP, "swtpm_group"),
    Shared(libvirt.GROUP, "supported_tpm_secret_security"),
    Shared(libvirt.GROUP, "virt_type"),
    Shared("DEFAULT", "force_raw_images"),
    Shared(compute.GROUP, "image_type_exclude_list"),
    Shared(libvirt.GROUP, "images_volume_group"),
    Shared(libvirt.GROUP, "images_rbd_pool"),
    Shared(libvirt.GROUP, "images_rbd_ceph_conf"),
    Shared(libvirt.GROUP, "rbd_user"),
    Shared(
        pci.GROUP,
        "device_spec",
        "as ours; also read under Nova's older name `[DEFAULT] pci_passthrough_whitelist`",
    ),
    Shared(pci.GROUP, "alias"),
    Shared(neutron.GROUP, "physnets"),
    Shared(PHYSNET, "numa_nodes"),
    Shared(neutron.TUNNEL_GROUP, "numa_nodes"),
    Shared(devices.GROUP, "enabled_mdev_types"),
    Shared(pci.GROUP, "report_in_placement"),
    # keystoneauth1's options of the section (the auth plugin's own follow its auth_type)
    *(
        Shared(placement.GROUP, opt.dest)
        for opt in placement.opts
        if opt not in placement.report_opts
    ),
)

# Every option of ours not in SHARED, and why nova.conf's value of the same name is not ours.
NOT_SHARED = {
    ("DEFAULT", "state_path"): "ours holds our own database and last audit; Nova's only "
    "resolves `$state_path` in nova.conf",
    ("DEFAULT", "update_resources_interval"): "Nova's 0 means its periodic task's default",
    ("DEFAULT", "update_resources_on_events"): "ours only",
    ("DEFAULT", "service_down_time"): "Nova's is its scheduler's; ours is how "
    "resource-tracker-manage shows our daemons",
    ("DEFAULT", "periodic_fuzzy_delay"): "our loop's start, not nova-compute's",
    ("DEFAULT", "debug"): "our log level",
    ("DEFAULT", "nova_config_file"): "ours only",
    (libvirt.GROUP, "domain_cache_refresh_audits"): "ours only",
    (libvirt.GROUP, "read_domain_capabilities"): "ours only: Nova's compute reads them on "
    "its read-write connection",
    (libvirt.GROUP, "rbd_connect_timeout"): "ours bounds every Ceph call, at most 30 s",
    ("database", "connection"): "Nova's `[database]` is Nova's own database",
    ("database", "db_max_retries"): "Nova's `[database]` is Nova's own database",
    ("metrics", "listen"): "ours only",
    ("capacity", "flavors_file"): "ours only",
    (placement.GROUP, "report"): "ours only: where nova-compute runs it reports the provider "
    "itself, and two writers of one provider fight",
    (placement.GROUP, "refresh_audits"): "ours only",
}


def files(conf: cfg.ConfigOpts) -> list[str]:
    return list(conf.nova_config_file or [])


def apply(
    conf: cfg.ConfigOpts,
    check_value: Callable[[cfg.Opt, str, str, str], None],
    plugin: bool = True,
) -> None:
    """Make the shared options' values in the nova.conf files `conf` names its defaults.

    `check_value(opt, raw, name, path)` raises ConfigError for a raw value `opt` refuses;
    the [placement] auth plugin's options are read only if `plugin`."""
    paths = files(conf)
    if not paths:
        return
    ours = _our_opts()
    nova = cfg.ConfigOpts()
    _register_nova_view(nova, ours)
    for path in paths:
        _check_file(path, ours, check_value)
    try:
        nova([], project=None, default_config_files=paths, use_env=False)
    except (cfg.ConfigFileParseError, UnicodeDecodeError) as error:
        raise ConfigError(f"[DEFAULT] nova_config_file: {error}") from None
    physnet_groups = neutron.dynamic_groups(nova)
    plugin_groups = placement.dynamic_groups(nova, plugin)
    for group, group_opts in physnet_groups + plugin_groups:
        nova.register_opts(group_opts, group=group)
        conf.register_opts(group_opts, group=group)
    plugin_names = [(group, opt.dest) for group, group_opts in plugin_groups for opt in group_opts]
    for group, name in _shared_names(physnet_groups) + plugin_names:
        try:
            value = _nova_value(nova, ours, group, name)
        except (cfg.ConfigFileValueError, ValueError) as error:
            raise ConfigError(f"[{group}] {name} in {', '.join(paths)}: {error}") from None
        except SUBSTITUTION_ERRORS:
            raise ConfigError(
                f"[{group}] {name} in {', '.join(paths)}: its $references name an option "
                "this daemon does not read from nova.conf: set the option in our own file"
            ) from None
        conf.set_default(name, _escaped(value), group=None if group == "DEFAULT" else group)


def set_in_nova_conf(conf: cfg.ConfigOpts, group: str | None, name: str) -> bool:
    """Whether a nova.conf file `conf` reads sets option `name` of `group` (None: DEFAULT)."""
    for path in files(conf):
        sections: dict[str, dict[str, list[str]]] = {}
        cfg.ConfigParser(path, sections).parse()  # read and checked by apply() already
        if name in sections.get(group or "DEFAULT", {}):
            return True
    return False


def _shared_names(physnet_groups) -> list[tuple[str, str]]:
    names = [(each.group, each.name) for each in SHARED if each.group != PHYSNET]
    return names + [(group, "numa_nodes") for group, _ in physnet_groups]


def _our_opts() -> dict[tuple[str, str], cfg.Opt]:
    from resource_tracker.conf.opts import list_opts

    return {(group, opt.dest): opt for group, opts in list_opts() for opt in opts}


def _register_nova_view(nova: cfg.ConfigOpts, ours: dict[tuple[str, str], cfg.Opt]) -> None:
    """Our shared options with Nova's defaults, and the Nova options their defaults come from."""
    nova.register_opt(cfg.StrOpt("state_path", default=NOVA_STATE_PATH))
    for kind in ("cpu", "ram", "disk"):
        nova.register_opt(cfg.FloatOpt(f"initial_{kind}_allocation_ratio"))
    for each in SHARED:
        if each.group == PHYSNET:
            continue
        opt = copy.deepcopy(ours[(each.group, each.name)])
        if each.name.endswith("_allocation_ratio") or each.name == "connection_uri":
            opt.default = None  # Nova's: resolved in _nova_value
        if each.name == "instances_path":
            opt.default = "$state_path/instances"  # Nova's, under Nova's state_path
        if each.name == "device_spec":
            older = cfg.DeprecatedOpt("pci_passthrough_whitelist", group="DEFAULT")
            opt.deprecated_opts.append(older)
        nova.register_opt(opt, group=None if each.group == "DEFAULT" else each.group)


def _nova_value(nova: cfg.ConfigOpts, ours: dict[tuple[str, str], cfg.Opt], group: str, name: str):
    """What nova-compute uses: nova.conf's value, else Nova's default (see SHARED)."""
    value = getattr(nova if group == "DEFAULT" else nova[group], name)
    if name.endswith("_allocation_ratio") and value is None:
        # Nova gives a new node initial_*_allocation_ratio, whose defaults are ours
        opt = ours[(group, name)]
        initial = getattr(nova, f"initial_{name}")
        if initial is None:
            return opt.default
        try:
            return opt.type(initial)
        except ValueError as error:
            raise ValueError(f"initial_{name} = {initial}: {error}") from None
    if name == "connection_uri" and not value:
        virt_type = nova.libvirt.virt_type
        if virt_type not in URI_OF_VIRT_TYPE:
            raise ConfigError(
                f"[libvirt] virt_type = {virt_type} in nova.conf: only kvm and qemu hosts "
                "are audited; set [libvirt] connection_uri in our file"
            )
        return URI_OF_VIRT_TYPE[virt_type]
    return value


def _check_file(path: str, ours: dict[tuple[str, str], cfg.Opt], check_value) -> None:
    """Unreadable files, and shared options' raw values ours refuses, named with the file."""
    sections: dict[str, dict[str, list[str]]] = {}
    try:
        cfg.ConfigParser(path, sections).parse()
    except OSError as error:
        raise ConfigError(
            f"[DEFAULT] nova_config_file: cannot read {path}: {error.strerror}"
        ) from None
    except cfg.ParseError as error:
        raise ConfigError(f"[DEFAULT] nova_config_file: {error}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"[DEFAULT] nova_config_file: {path} is not UTF-8 text") from None
    for each in SHARED:
        if each.group == PHYSNET:
            continue
        opt = ours[(each.group, each.name)]
        section = sections.get(each.group, {})
        for raw in section.get(each.name, []):
            check_value(opt, raw, f"[{each.group}] {each.name}", path)


def _escaped(value):
    """A value as set_default takes it: oslo.config substitutes $ in defaults again."""
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, list):
        return [_escaped(item) for item in value]
    return value


# The option naming the files, in [DEFAULT] (opts.list_opts adds it there).
nova_config_file = cfg.ListOpt(
    "nova_config_file",
    default=[],
    help="nova-compute's config files, in the order of its --config-file arguments (e.g. "
    "/etc/nova/nova.conf, /etc/nova/nova-compute.conf): the options both programs share "
    "(docs/configuration.md, 'Beside nova-compute') take their values from them, as "
    "nova-compute uses them (set there, else Nova's default); a value set in this file "
    "overrides. Options and sections of those files that this daemon does not know are "
    "ignored. Read again on SIGHUP. Empty: nova.conf is not read.",
)
