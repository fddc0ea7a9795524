"""Configuration: the options of every group, and a loader that refuses what it cannot use.

oslo.config ignores options it does not know and reports a bad value only when the value is
first read, which for a daemon can be hours after start-up. `load()` checks both at once, so
a typo in a config file stops start-up with one line naming the option and the file; so do
bytes that are not UTF-8, $references that loop or name no option, and values that are
valid alone but unusable (a database URL no driver here can open).
"""

from __future__ import annotations

import argparse
import os

from oslo_config import cfg

from resource_tracker import version
from resource_tracker.conf import capacity as _capacity
from resource_tracker.conf import compute as _compute
from resource_tracker.conf import database as _database
from resource_tracker.conf import libvirt as _libvirt
from resource_tracker.conf import neutron as _neutron
from resource_tracker.conf import nova as _nova
from resource_tracker.conf import opts as _opts
from resource_tracker.conf import pci as _pci
from resource_tracker.conf import placement as _placement
from resource_tracker.exception import ConfigError

SUBSTITUTION_ERRORS = _nova.SUBSTITUTION_ERRORS

PROJECT = "resource-tracker"


def make_config() -> cfg.ConfigOpts:
    """A fresh ConfigOpts with every option of the project registered."""
    conf = cfg.ConfigOpts()
    # oslo.config's --shell_completion needs templates its 10.x wheels lack (a traceback):
    # no such option here; it checks this list before parsing
    conf.unregister_opt(cfg.StrOpt("shell_completion"))
    conf.supported_shell_completion = []
    for group, group_opts in _opts.list_opts():
        conf.register_opts(group_opts, group=_group_arg(group))
    return conf


def load(
    conf: cfg.ConfigOpts,
    argv: list[str],
    description: str | None = None,
    every_credential: bool = True,
) -> None:
    """Parse the command line and config files into `conf`; raise ConfigError if unusable.

    Without `every_credential` (the daemon), the [placement] auth plugin's options are read
    only as placement.credentials_wanted says."""
    try:
        conf(argv, project=PROJECT, version=f"%(prog)s {version()}", description=description)
    except cfg.ConfigFilesNotFoundError as error:
        raise ConfigError(f"cannot read config file {', '.join(error.config_files)}") from None
    except (cfg.ConfigFileParseError, cfg.ConfigDirNotFoundError) as error:
        raise ConfigError(str(error)) from None
    except UnicodeDecodeError as error:
        raise ConfigError(_not_utf8(argv, error)) from None
    check(conf, every_credential)


def check(conf: cfg.ConfigOpts, every_credential: bool = True) -> None:
    """nova.conf's shared values applied (they may name physnets our file configures), our
    files checked strictly, then every value as it will be used."""
    plugin = every_credential or _placement.credentials_wanted(conf)
    _nova.apply(conf, _check_value, plugin)
    _check_our_files(conf, plugin)
    try:
        _check_values(conf, plugin)
    except ConfigError as error:
        nova_files = _nova.files(conf)
        if not nova_files:
            raise
        raise ConfigError(
            f"{error} (with the options shared with nova-compute read from "
            f"{', '.join(nova_files)})"
        ) from None


def _check_our_files(conf: cfg.ConfigOpts, plugin: bool) -> None:
    """Raise ConfigError for an unknown option in our config files or a value that does not
    parse."""
    register_dynamic_opts(conf, plugin)
    known: dict[str, dict[str, cfg.Opt]] = {}
    for group, group_opts in _opts.list_opts() + _dynamic_groups(conf, plugin):
        known.setdefault(_section_name(group), {}).update(_by_name(group_opts))
    for path in config_files(conf):
        sections: dict[str, dict[str, list[str]]] = {}
        cfg.ConfigParser(path, sections).parse()
        for section, values in sections.items():
            section_opts = known.get(_section_name(section))
            if section_opts is None:
                raise ConfigError(f"unknown section [{section}] in {path}{_nova_hint(path)}")
            for name, raw_values in values.items():
                opt = section_opts.get(name)
                if opt is None:
                    raise ConfigError(f"unknown option [{section}] {name} in {path}")
                for raw in raw_values:
                    _check_value(opt, raw, f"[{section}] {name}", path)


def _check_values(conf: cfg.ConfigOpts, plugin: bool) -> None:
    """Every value as it will be used: interpolated, from any source, and options together."""
    every_opt = _opts.list_opts() + _dynamic_groups(conf, plugin)
    for group, group_opts in every_opt:
        for opt in group_opts:
            try:
                value_of(conf, group, opt.dest)
            except (cfg.ConfigFileValueError, ValueError) as error:
                raise ConfigError(f"[{group}] {opt.name}: {error}") from None
            except SUBSTITUTION_ERRORS as error:
                raise ConfigError(f"[{group}] {opt.name}: {_substitution(error)}") from None
    _libvirt.check(conf)
    _compute.check(conf)
    _database.check(conf)
    _pci.check(conf)
    _neutron.check(conf)
    _capacity.check(conf)
    _placement.check(conf)


def _dynamic_groups(conf: cfg.ConfigOpts, plugin: bool) -> list[tuple[str, list[cfg.Opt]]]:
    """Options the files' values name: the physnets' groups ([neutron] physnets), the
    options of the keystoneauth plugin [placement] auth_type names (if `plugin`)."""
    return _neutron.dynamic_groups(conf) + _placement.dynamic_groups(conf, plugin)


def register_dynamic_opts(conf: cfg.ConfigOpts, plugin: bool = True) -> None:
    for group, group_opts in _dynamic_groups(conf, plugin):
        conf.register_opts(group_opts, group=group)


def set_explicitly(conf: cfg.ConfigOpts, name: str, group: str | None = None) -> bool:
    """Whether option `name` has its value from a config file, the command line or the
    environment (or nova.conf, which sets it), not from its default."""
    info = conf.get_location(name, group)
    location = info.location if info is not None else None
    return location in (
        cfg.Locations.user,
        cfg.Locations.command_line,
        cfg.Locations.environment,
    ) or (location is cfg.Locations.set_default and _nova.set_in_nova_conf(conf, group, name))


def _nova_hint(path: str) -> str:
    if os.path.basename(path) != "nova.conf":
        return ""
    return (
        ": give nova-compute's files as [DEFAULT] nova_config_file instead, "
        "to read the options both share"
    )


def value_of(conf: cfg.ConfigOpts, group: str, name: str):
    """The value of option `name` of `group` ("DEFAULT" or a group name)."""
    return getattr(conf if group == "DEFAULT" else conf[group], name)


def config_files(conf: cfg.ConfigOpts) -> list[str]:
    """The config files in the order oslo.config read them, those of config dirs included."""
    files = list(conf.config_file or [])
    for directory in conf.config_dir or []:
        files += _files_in(directory)
    return files


def _files_in(directory: str) -> list[str]:
    names = sorted(name for name in os.listdir(directory) if name.endswith(".conf"))
    return [os.path.join(directory, name) for name in names]


def _check_value(opt: cfg.Opt, raw: str, name: str, path: str) -> None:
    if "$" in raw:
        return  # interpolated later by oslo.config; checked when used
    try:
        opt.type(raw)
    except ValueError as error:
        reason = _reason(opt, error)
        raise ConfigError(f"{name}: invalid value {raw!r} in {path}: {reason}") from None


def _reason(opt: cfg.Opt, error: ValueError) -> str:
    """oslo.config's reason, with a range said in full (it prints 2147483647 as 2.14748e+09)."""
    low, high = getattr(opt.type, "min", None), getattr(opt.type, "max", None)
    if str(error).startswith("Should be") and low is not None and high is not None:
        return f"must be from {low} to {high}"
    return str(error)


def _substitution(error: BaseException) -> str:
    """What is wrong with a value's $references, from the chain oslo.config raised."""
    chain = [error]
    while chain[-1].__context__ is not None:
        chain.append(chain[-1].__context__)
    if any(isinstance(each, RecursionError) for each in chain):
        return "its $references loop back to it (write $$ for a literal $)"
    missing = next(each for each in reversed(chain) if isinstance(each, SUBSTITUTION_ERRORS))
    name = getattr(missing, "opt_name", None) or getattr(missing, "group_name", "")
    return f"${name} names no option (write $$ for a literal $)"


def _not_utf8(argv: list[str], error: UnicodeDecodeError) -> str:
    """Which config file, line and option hold bytes that are not UTF-8."""
    for path in _files_named(argv):
        with open(path, "rb") as config_file:
            data = config_file.read()
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as bad:
            lines = data[: bad.start].decode("utf-8", "replace").split("\n")
            whole = data.decode("utf-8", "replace").split("\n")[len(lines) - 1]
            sections = [line.strip()[1:-1] for line in lines if line.strip().startswith("[")]
            option = whole.split("=", 1)[0].strip() if "=" in whole else "(no option)"
            return (
                f"[{sections[-1] if sections else 'DEFAULT'}] {option}: not UTF-8 text "
                f"(byte 0x{data[bad.start]:02x}) in {path} line {len(lines)}"
            )
    return f"a config file is not UTF-8 text: {error}"


def _files_named(argv: list[str]) -> list[str]:
    """The config files oslo.config reads for `argv`, before it has parsed it."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--config-file", action="append", default=[])
    parser.add_argument("--config-dir", action="append", default=[])
    given, _ = parser.parse_known_args(argv)
    files = given.config_file or ([] if given.config_dir else cfg.find_config_files(PROJECT))
    for directory in given.config_dir:
        files += _files_in(directory)
    return files


def _by_name(group_opts) -> dict[str, cfg.Opt]:
    names = {}
    for opt in group_opts:
        names[opt.name] = names[opt.dest] = opt
        names.update((old.name, opt) for old in opt.deprecated_opts if old.name)
    return names


def _section_name(section: str) -> str:
    return section if section == "DEFAULT" else section.lower()


def _group_arg(group: str) -> str | None:
    return None if group == "DEFAULT" else group
