"""[pci]: which host PCI devices are offered to guests (Nova's option and format)."""

from oslo_config import cfg

from resource_tracker.audit import device_spec
from resource_tracker.audit.fitting import flavor
from resource_tracker.exception import ConfigError

GROUP = "pci"

opts = [
    cfg.MultiStrOpt(
        "device_spec",
        default=[],
        deprecated_opts=[cfg.DeprecatedOpt("passthrough_whitelist", group=GROUP)],
        help="The PCI devices offered to guests, as Nova's option of the same name (once "
        "passthrough_whitelist, still read under that name). Each value is a JSON object, or "
        'a list of them: vendor_id and product_id (hex or "*"), address ("[[domain:]bus:]'
        'slot.function" with "*" or parts left out, or an object of regular expressions '
        "domain, bus, slot, function), and any other key a tag of the device's pool. A device "
        "is offered by the first entry it matches; an SR-IOV PF named by its full address "
        "offers its VFs too. Offered devices are the pci_devices rows and the pci_stats "
        "pools; none are offered by default. devname is not supported: use address. A "
        "malformed entry stops start-up naming it. Needs a restart to change.",
    ),
    cfg.MultiStrOpt(
        "alias",
        default=[],
        help="PCI aliases that flavors name in pci_passthrough:alias, as Nova's option of the "
        "same name: JSON objects with name, vendor_id, product_id, and optionally device_type "
        '("type-PCI", "type-PF", "type-VF") and numa_policy (required, legacy, preferred, '
        "socket). Used only to answer how many guests of a flavor fit ([capacity]). A "
        "malformed alias stops start-up naming it.",
    ),
    cfg.BoolOpt(
        "report_in_placement",
        default=False,
        help="With [placement] report: the offered PCI devices as child resource providers, "
        "as Nova's option of the same name makes them (one per PF or standalone device, "
        "one per PF for its VFs; resource class and traits from the device_spec's "
        "resource_class and traits tags; a one_time_use device reserved once a domain "
        "holds it). Needed by the device_spec tag one_time_use true. See docs/placement.md.",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(opts, group=GROUP)


def specs(conf: cfg.ConfigOpts) -> tuple[device_spec.DeviceSpec, ...]:
    """The parsed device_spec; ConfigError naming the option and the entry if malformed."""
    try:
        return device_spec.parse(conf.pci.device_spec, conf.pci.report_in_placement)
    except device_spec.DeviceSpecError as error:
        raise ConfigError(str(error)) from None


def aliases(conf: cfg.ConfigOpts) -> flavor.Aliases:
    """The parsed aliases by name; ConfigError naming the option and the alias."""
    try:
        return flavor.parse_aliases(conf.pci.alias, f"[{GROUP}] alias")
    except flavor.FlavorError as error:
        raise ConfigError(str(error)) from None


def check(conf: cfg.ConfigOpts) -> None:
    specs(conf)
    aliases(conf)
