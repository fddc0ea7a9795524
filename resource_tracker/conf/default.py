"""[DEFAULT]: this host, where it keeps its state and disks, and what it holds back.

Every number has a range: a typo (an extra digit or ten) stops start-up naming the option,
rather than being accepted and failing every audit, or the daemon, later.
"""

import math
import re
import socket

from oslo_config import cfg, types

from resource_tracker import cpuset, units

ON_SIGHUP = " Can change at run time: edit the file, then send SIGHUP."
DAY_S = 86400
RESERVE_MAX = 2**31 - 1  # the reserves are stored in INT columns of compute_nodes
RATIO_MAX = 1000.0
LIBVIRT_IMAGES = "/var/lib/libvirt/images"  # libvirt's `default` pool: disks of plain hosts
NOVA_INSTANCES = "/var/lib/nova/instances"  # Nova's instances_path ($state_path/instances)


class Ratio(types.Float):
    """An allocation ratio from 0 to RATIO_MAX; NaN (which no bound refuses) is refused."""

    def __init__(self):
        super().__init__(min=0.0, max=RATIO_MAX)

    def __call__(self, value):
        value = super().__call__(value)
        if math.isnan(value):
            raise ValueError("not a number")
        return value


class Checked(types.String):
    """A string checked by `parse` when the file is read (ValueError: one line naming the
    option); kept as written, and parsed again by the same function where it is used."""

    def __init__(self, parse, type_name: str):
        super().__init__(type_name=type_name)
        self._parse = parse

    def __call__(self, value):
        value = super().__call__(value)
        if value.strip():
            self._parse(value)
        return value


def _size(text: str) -> int:
    match = re.match(r"^(\d+)\s*([KMGT]?)(i?B)?$", text, re.I)
    if not match:
        raise ValueError(f"size {text!r} is neither KiB nor a size like 2M or 1G")
    return int(match.group(1)) * units.BY_PREFIX[match.group(2).upper() or "K"]


def reserved_huge_pages(value: str) -> tuple[int, int, int]:
    """`node:0,size:2048,count:64` as (cell, page size in bytes, count); ValueError if not."""
    fields = {}
    for item in value.split(","):
        key, colon, text = item.partition(":")
        fields[key.strip()] = text.strip() if colon else None
    node, size, count = fields.get("node"), fields.get("size"), fields.get("count")
    if set(fields) != {"node", "size", "count"} or node is None or size is None or count is None:
        raise ValueError(f"expected node:N,size:S,count:C, got {value!r}")
    if not (node.isdigit() and count.isdigit()):
        raise ValueError(f"node and count must be whole numbers in {value!r}")
    return int(node), _size(size), int(count)


opts = [
    cfg.StrOpt(
        "host",
        default=socket.gethostname(),
        sample_default="<current hostname>",
        help="Name of this compute host: the `host` of its rows in compute_nodes and services.",
    ),
    cfg.StrOpt(
        "state_path",
        default="/var/lib/resource-tracker",
        help="Directory for the tracker's own state: the default SQLite database, and "
        "last-audit.json, the last audit's per-disk breakdown that `nodes show` prints.",
    ),
    cfg.StrOpt(
        "instances_path",
        default=LIBVIRT_IMAGES,
        help="Directory holding instance disks; its file system is the local storage reported "
        f"as local_gb (file-based images_type). The default is libvirt's default storage "
        f"pool; on a host of nova-compute set Nova's ({NOVA_INSTANCES}). It must exist: the "
        "daemon only reads it, and never creates it.",
    ),
    cfg.IntOpt(
        "update_resources_interval",
        default=60,
        min=1,
        max=DAY_S,
        help="Seconds between the starts of two audits of this host." + ON_SIGHUP,
    ),
    cfg.BoolOpt(
        "update_resources_on_events",
        default=True,
        help="Also audit soon after libvirt's domain and node device events (a VM defined, "
        "started, stopped, undefined, a disk attached, a device added): 0.5 s after the last "
        "event, at most one audit a second, so the row follows the host within about two "
        "seconds instead of a period. The periodic audits go on; a file disk that grows "
        "sends no event and is seen at the next one. No effect where libvirt sends no "
        "events." + ON_SIGHUP,
    ),
    cfg.IntOpt(
        "report_interval",
        default=10,
        min=0,
        max=DAY_S,
        help="Seconds between two heartbeats (services.updated_at), as Nova's report_state: "
        "while its audits succeed the daemon writes the heartbeat every report_interval, "
        "between audits too, and stops once an audit fails (until one succeeds). An audit "
        "that changes nothing writes nothing to the database while the last heartbeat is "
        "younger than this; one that changes anything writes at once, with its heartbeat. "
        "service_down_time must be above report_interval (if not, it is taken as 2.5 times "
        "report_interval, with a warning, as Nova does). 0: only audits beat, every one. "
        "`--once` always writes it." + ON_SIGHUP,
    ),
    cfg.IntOpt(
        "service_down_time",
        default=180,
        min=1,
        max=7 * DAY_S,
        help="resource-tracker-manage shows a tracker as down once its last heartbeat "
        "(services.updated_at, on the database's clock) is older than this many seconds. "
        "Keep it well above report_interval (a healthy tracker's heartbeat is at most that "
        "old, plus an audit's duration; with report_interval 0, update_resources_interval); "
        "one not above report_interval is taken as 2.5 times report_interval, with a "
        "warning, as Nova does.",
    ),
    cfg.IntOpt(
        "periodic_fuzzy_delay",
        default=60,
        min=0,
        max=3600,
        help="Wait a random number of seconds up to this before the first audit, so that a "
        "fleet restarted at once does not write to the database in step. 0 disables it.",
    ),
    cfg.IntOpt(
        "reserved_host_memory_mb",
        default=512,
        min=0,
        max=RESERVE_MAX,
        help="Memory (MiB) kept for the host itself; counted in memory_mb_used (as Nova does), "
        "so subtracted from free_ram_mb." + ON_SIGHUP,
    ),
    cfg.IntOpt(
        "reserved_host_disk_mb",
        default=0,
        min=0,
        max=RESERVE_MAX,
        help="Local disk (MiB) kept for the host itself; counted in local_gb_used (rounded up "
        "to whole GB), so subtracted from free_disk_gb." + ON_SIGHUP,
    ),
    cfg.IntOpt(
        "reserved_host_cpus",
        default=0,
        min=0,
        max=RESERVE_MAX,
        help="Host CPUs kept for the host itself; counted in vcpus_used, as Nova does. As in "
        "Nova, not with [compute] cpu_shared_set or cpu_dedicated_set." + ON_SIGHUP,
    ),
    cfg.Opt(
        "cpu_allocation_ratio",
        type=Ratio(),
        default=4.0,
        help="Virtual CPUs schedulers may place per host CPU; stored with the row." + ON_SIGHUP,
    ),
    cfg.Opt(
        "ram_allocation_ratio",
        type=Ratio(),
        default=1.0,
        help="Virtual RAM schedulers may place per byte of host RAM; stored with the row."
        + ON_SIGHUP,
    ),
    cfg.Opt(
        "disk_allocation_ratio",
        type=Ratio(),
        default=1.0,
        help="Virtual disk schedulers may place per byte of local disk; stored with the row."
        + ON_SIGHUP,
    ),
    cfg.IPOpt(
        "my_ip",
        sample_default="<address of the interface holding the default route>",
        help="IP address of this host, stored as host_ip. Default: the address of the "
        "interface that holds the default route, IPv4 if there is one, else IPv6. An "
        "address no interface of the host has is warned about at start-up, as in Nova.",
    ),
    cfg.Opt(
        "vcpu_pin_set",
        type=Checked(cpuset.parse, "CPU set"),
        help="Deprecated (Nova's older name of [compute] cpu_shared_set): the daemon warns "
        "when it is set; it wins over cpu_shared_set (a warning) and cannot go with "
        "cpu_dedicated_set (start-up stops), as in Nova.",
    ),
    cfg.MultiOpt(
        "reserved_huge_pages",
        item_type=Checked(reserved_huge_pages, "node:N,size:S,count:C"),
        help="Pages of one NUMA cell and size kept for the host (e.g. for OVS-DPDK), as "
        "node:0,size:2048,count:64 (size in KiB, or with a unit: 2M, 1G, 1GB); repeat the "
        "option for each cell and size. Stored as the mempages' reserved in numa_topology.",
    ),
    cfg.BoolOpt(
        "force_raw_images",
        default=True,
        help="Whether nova-compute converts images to raw, as Nova's option of the same name: "
        "with [placement] report, images_type lvm or rbd and this false, "
        "COMPUTE_IMAGE_TYPE_QCOW2 is not reported (those back ends then take raw images "
        "only).",
    ),
    cfg.BoolOpt(
        "debug",
        default=False,
        help="Log at DEBUG level (per-disk detail of audits)." + ON_SIGHUP,
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(opts)


def service_down_time(conf: cfg.ConfigOpts) -> int:
    """service_down_time as used: Nova's servicegroup API raises one not above
    report_interval to 2.5 times it (warnings() says so)."""
    if conf.service_down_time > conf.report_interval:
        return conf.service_down_time
    return int(conf.report_interval * 2.5)


def warnings(conf: cfg.ConfigOpts) -> tuple[str, ...]:
    """What Nova accepts with a warning, one line each: a service_down_time too short."""
    used = service_down_time(conf)
    if used == conf.service_down_time:
        return ()
    return (
        f"[DEFAULT] service_down_time {conf.service_down_time} is not above report_interval "
        f"{conf.report_interval}: {used} is used (2.5 times report_interval, as Nova does)",
    )
