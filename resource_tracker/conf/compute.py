"""[compute]: which host CPUs guests share and which are dedicated to pinned guests.

Nova's option names and syntax. The sets are checked here for syntax and against each
other, refusing and warning about what Nova 34's libvirt driver does
(`LibvirtDriver._check_cpu_set_configuration`); against the host's online CPUs when the
daemon first reaches libvirt.
"""

from oslo_config import cfg

from resource_tracker import cpuset
from resource_tracker.conf.default import Checked
from resource_tracker.exception import ConfigError

GROUP = "compute"

opts = [
    cfg.Opt(
        "cpu_shared_set",
        type=Checked(cpuset.parse, "CPU set"),
        help="Host CPUs that unpinned guests share, e.g. 0-3,^2,8: the vcpus column counts "
        "those online. Default: every online CPU, or none when only cpu_dedicated_set is "
        "given. Replaces [DEFAULT] vcpu_pin_set; while that is set it gives the shared CPUs "
        "and this one is not used (a warning, as in Nova).",
    ),
    cfg.Opt(
        "cpu_dedicated_set",
        type=Checked(cpuset.parse, "CPU set"),
        help="Host CPUs dedicated to pinned guests, e.g. 4-15: the pcpus column counts them, "
        "pcpus_used those a guest (running or shut off) holds as Nova pins them: a <vcpupin> "
        "to one CPU, an isolated emulator thread's <emulatorpin>. Must not overlap "
        "cpu_shared_set; not with [DEFAULT] vcpu_pin_set or reserved_host_cpus.",
    ),
    cfg.ListOpt(
        "image_type_exclude_list",
        default=[],
        help="Image formats nova-compute refuses, as Nova's option of the same name (e.g. "
        "iso,aki): with [placement] report their COMPUTE_IMAGE_TYPE_* traits are not "
        "reported.",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(opts, group=GROUP)


def shared_set(conf: cfg.ConfigOpts) -> tuple[frozenset[int] | None, str]:
    """The shared CPUs and the option that named them ([DEFAULT] vcpu_pin_set, deprecated)."""
    if conf.vcpu_pin_set:
        return cpuset.parse(conf.vcpu_pin_set), "[DEFAULT] vcpu_pin_set"
    if conf.compute.cpu_shared_set:
        return cpuset.parse(conf.compute.cpu_shared_set), "[compute] cpu_shared_set"
    return None, "[compute] cpu_shared_set"


def dedicated_set(conf: cfg.ConfigOpts) -> frozenset[int] | None:
    value = conf.compute.cpu_dedicated_set
    return cpuset.parse(value) if value else None


def check(conf: cfg.ConfigOpts) -> None:
    """Raise ConfigError for CPU options that are valid alone but not together, as Nova does.

    The order is Nova's: with vcpu_pin_set, only cpu_dedicated_set is refused (cpu_shared_set
    is a warning, see warnings()); without it, overlapping sets, then reserved_host_cpus
    beside either set (Nova's placement inventory reserves no VCPU or PCPU for it then)."""
    dedicated = dedicated_set(conf)
    if conf.vcpu_pin_set:
        if dedicated:
            raise ConfigError(
                "[DEFAULT] vcpu_pin_set and [compute] cpu_dedicated_set are both set: "
                "vcpu_pin_set is deprecated and cannot be used with cpu_dedicated_set; "
                "unset vcpu_pin_set and name its CPUs in [compute] cpu_shared_set"
            )
        return
    shared, option = shared_set(conf)
    if shared and dedicated and shared & dedicated:
        raise ConfigError(
            f"{option} and [compute] cpu_dedicated_set overlap on CPUs "
            f"{cpuset.format(shared & dedicated)}: a CPU is either shared or dedicated"
        )
    if (shared or dedicated) and conf.reserved_host_cpus:
        raise ConfigError(
            "[DEFAULT] reserved_host_cpus cannot be set with [compute] cpu_shared_set or "
            "cpu_dedicated_set: unset reserved_host_cpus (the CPUs left out of both sets "
            "are the host's)"
        )


def warnings(conf: cfg.ConfigOpts) -> tuple[str, ...]:
    """What Nova accepts with a warning, one line each: the deprecated vcpu_pin_set."""
    if not conf.vcpu_pin_set:
        return ()
    if conf.compute.cpu_shared_set:
        return (
            "[DEFAULT] vcpu_pin_set and [compute] cpu_shared_set are both set: vcpu_pin_set "
            "gives the shared CPUs (vcpus) and cpu_shared_set is not used; move "
            "vcpu_pin_set's CPUs to cpu_shared_set and unset vcpu_pin_set",
        )
    return ("[DEFAULT] vcpu_pin_set is deprecated: name the CPUs in [compute] cpu_shared_set",)
