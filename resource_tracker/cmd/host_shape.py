"""The daemon's side of the host's shape: the policy from the config, checked against the host.

A CPU set naming a CPU that is not online, or huge pages reserved in a cell or size the host
does not have, stops start-up with one line (exit 2) when libvirt can be reached then; if it
cannot, the daemon starts and every audit leaves such CPUs and reservations out, with a
warning.
"""

from __future__ import annotations

import errno
import logging
import socket
from collections.abc import Sequence

from oslo_config import cfg

from resource_tracker.audit.shape import ReservedPages, ShapePolicy
from resource_tracker.audit.tracker import ResourceTracker
from resource_tracker.cmd import fail, within
from resource_tracker.conf import compute, default
from resource_tracker.exception import HypervisorUnavailable
from resource_tracker.timeouts import START_CHECK_S

LOG = logging.getLogger(__name__)

# Connecting a UDP socket sends nothing: the kernel only picks the route and source address.
ROUTE_PROBES = ((socket.AF_INET, "192.0.2.1"), (socket.AF_INET6, "2001:db8::1"))


def shape_policy(conf: cfg.ConfigOpts) -> ShapePolicy:
    shared, option = compute.shared_set(conf)
    reserved = (default.reserved_huge_pages(value) for value in conf.reserved_huge_pages or ())
    return ShapePolicy(
        shared_cpus=shared,
        dedicated_cpus=compute.dedicated_set(conf),
        shared_option=option,
        reserved_pages=tuple(ReservedPages(*fields) for fields in reserved),
        host_ip=conf.my_ip or default_route_address(),
    )


def start_warnings(conf: cfg.ConfigOpts) -> tuple[str, ...]:
    """What Nova's libvirt driver accepts at start-up with a warning: the CPU options
    (compute.warnings) and, as its _check_my_ip, a my_ip no interface of the host has."""
    warnings = compute.warnings(conf) + default.warnings(conf)
    if conf.my_ip and not is_local_address(conf.my_ip):
        warnings += (f"[DEFAULT] my_ip {conf.my_ip} is on none of the host's interfaces",)
    return warnings


def is_local_address(address: str) -> bool:
    """Whether an interface of the host has `address`: binding to it is refused if not."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as udp:
            udp.bind((address, 0))
    except OSError as error:
        return error.errno != errno.EADDRNOTAVAIL
    return True


def default_route_address() -> str | None:
    """The address of the interface holding the default route, IPv4 first; None if none."""
    for family, probe in ROUTE_PROBES:
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as udp:
                udp.connect((probe, 9))
                return udp.getsockname()[0]
        except OSError:
            continue
    LOG.warning("no default route: host_ip stays empty (set [DEFAULT] my_ip)")
    return None


def _no_answer() -> HypervisorUnavailable:
    return HypervisorUnavailable(f"libvirt did not answer within {START_CHECK_S:.0f} s")


def check_host(
    tracker: ResourceTracker, warnings: Sequence[str] = (), daemon: bool = False
) -> None:
    """Exit 2 with one line if the shape policy names what the host does not have; log the
    `warnings` (start_warnings: what Nova accepts with a warning) once it passes.

    Without libvirt (or with a libvirt that does not answer within START_CHECK_S), the
    daemon goes on (HypervisorUnavailable is raised for --once)."""
    try:
        problems = within(START_CHECK_S, tracker.check_host, _no_answer)
    except HypervisorUnavailable as error:
        if not daemon:
            raise
        # the first audit reports the outage; it checks the sets once libvirt answers
        LOG.debug("%s; CPU sets and reserved huge pages are checked at each audit", error)
    else:
        if problems:
            fail("; ".join(problems), status=2)
    for warning in warnings:
        LOG.warning("%s", warning)
