"""[capacity]: the named flavors that `capacity` and the flavor_fit gauge answer for."""

from __future__ import annotations

from oslo_config import cfg

from resource_tracker.audit.fitting import flavors_file
from resource_tracker.audit.fitting.flavor import Flavor, FlavorError
from resource_tracker.conf import pci
from resource_tracker.exception import ConfigError

GROUP = "capacity"

opts = [
    cfg.StrOpt(
        "flavors_file",
        help="A YAML (.yaml, .yml) or JSON file of named flavors: a mapping `flavors` of name "
        "to vcpus, ram, disk (root), ephemeral, swap and extra_specs (docs/capacity.md). "
        "`resource-tracker-manage capacity` answers for each of them, and the daemon exports "
        "resource_tracker_flavor_fit{flavor} for each after every audit. Extra specs are read "
        "as Nova 34 reads them, PCI aliases from [pci] alias; an unknown spec, or a file that "
        "does not parse, stops start-up naming it. Read at start-up. Unset: no named flavors.",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(opts, group=GROUP)


def flavors(conf: cfg.ConfigOpts) -> tuple[Flavor, ...]:
    """The file's flavors (none if unset); ConfigError naming the option and the problem."""
    path = conf.capacity.flavors_file
    if not path:
        return ()
    try:
        return flavors_file.load(path, pci.aliases(conf))
    except FlavorError as error:
        raise ConfigError(f"[{GROUP}] flavors_file: {error}") from None


def check(conf: cfg.ConfigOpts) -> None:
    flavors(conf)
