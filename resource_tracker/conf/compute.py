"""[compute]: which host CPUs guests share and which are dedicated to pinned guests.

Nova's option names and syntax. The sets are checked here for syntax and against each
other; against the host's online CPUs when the daemon first reaches libvirt.
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
        "given. Replaces [DEFAULT] vcpu_pin_set; setting both stops start-up.",
    ),
    cfg.Opt(
        "cpu_dedicated_set",
        type=Checked(cpuset.parse, "CPU set"),
        help="Host CPUs dedicated to pinned guests, e.g. 4-15: the pcpus column counts them, "
        "pcpus_used those a guest (running or shut off) holds as Nova pins them: a <vcpupin> "
        "to one CPU, an isolated emulator thread's <emulatorpin>. Must not overlap "
        "cpu_shared_set.",
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
    """Raise ConfigError for CPU sets that are valid alone but not together."""
    if conf.vcpu_pin_set and conf.compute.cpu_shared_set:
        raise ConfigError(
            "[DEFAULT] vcpu_pin_set and [compute] cpu_shared_set are both set: "
            "vcpu_pin_set is the deprecated name of cpu_shared_set; keep only cpu_shared_set"
        )
    shared, option = shared_set(conf)
    dedicated = dedicated_set(conf)
    if shared and dedicated and shared & dedicated:
        raise ConfigError(
            f"{option} and [compute] cpu_dedicated_set overlap on CPUs "
            f"{cpuset.format(shared & dedicated)}: a CPU is either shared or dedicated"
        )
