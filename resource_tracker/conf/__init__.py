"""Configuration: the options of every group, and a loader that refuses what it cannot use.

oslo.config ignores options it does not know and reports a bad value only when the value is
first read, which for a daemon can be hours after start-up. `load()` checks both at once, so
a typo in a config file stops start-up with one line naming the option and the file.
"""

from __future__ import annotations

import os

from oslo_config import cfg

from resource_tracker.conf import compute as _compute
from resource_tracker.conf import libvirt as _libvirt
from resource_tracker.conf import opts as _opts
from resource_tracker.exception import ConfigError

PROJECT = "resource-tracker"


def make_config() -> cfg.ConfigOpts:
    """A fresh ConfigOpts with every option of the project registered."""
    conf = cfg.ConfigOpts()
    for group, group_opts in _opts.list_opts():
        conf.register_opts(group_opts, group=_group_arg(group))
    return conf


def load(conf: cfg.ConfigOpts, argv: list[str], description: str | None = None) -> None:
    """Parse the command line and config files into `conf`; raise ConfigError if unusable."""
    try:
        conf(argv, project=PROJECT, description=description)
    except cfg.ConfigFilesNotFoundError as error:
        raise ConfigError(f"cannot read config file {', '.join(error.config_files)}") from None
    except (cfg.ConfigFileParseError, cfg.ConfigDirNotFoundError) as error:
        raise ConfigError(str(error)) from None
    check(conf)


def check(conf: cfg.ConfigOpts) -> None:
    """Raise ConfigError for an unknown option in a config file or a value that does not parse."""
    known = {_section_name(group): _by_name(group_opts) for group, group_opts in _opts.list_opts()}
    for path in config_files(conf):
        sections: dict[str, dict[str, list[str]]] = {}
        cfg.ConfigParser(path, sections).parse()
        for section, values in sections.items():
            section_opts = known.get(_section_name(section))
            if section_opts is None:
                raise ConfigError(f"unknown section [{section}] in {path}")
            for name, raw_values in values.items():
                opt = section_opts.get(name)
                if opt is None:
                    raise ConfigError(f"unknown option [{section}] {name} in {path}")
                for raw in raw_values:
                    _check_value(opt, raw, f"[{section}] {name}", path)
    # Values built by interpolation or given on the command line are checked by using them.
    for group, group_opts in _opts.list_opts():
        for opt in group_opts:
            try:
                value_of(conf, group, opt.dest)
            except (cfg.ConfigFileValueError, ValueError) as error:
                raise ConfigError(f"[{group}] {opt.name}: {error}") from None
    _libvirt.check(conf)
    _compute.check(conf)


def value_of(conf: cfg.ConfigOpts, group: str, name: str):
    """The value of option `name` of `group` ("DEFAULT" or a group name)."""
    return getattr(conf if group == "DEFAULT" else conf[group], name)


def config_files(conf: cfg.ConfigOpts) -> list[str]:
    """The config files in the order oslo.config read them, those of config dirs included."""
    files = list(conf.config_file or [])
    for directory in conf.config_dir or []:
        names = sorted(name for name in os.listdir(directory) if name.endswith(".conf"))
        files += [os.path.join(directory, name) for name in names]
    return files


def _check_value(opt: cfg.Opt, raw: str, name: str, path: str) -> None:
    if "$" in raw:
        return  # interpolated later by oslo.config; checked when used
    try:
        opt.type(raw)
    except ValueError as error:
        raise ConfigError(f"{name}: invalid value {raw!r} in {path}: {error}") from None


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
