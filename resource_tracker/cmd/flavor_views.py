"""The Nova flavors a host's last audit saw, as `nodes show` and `capacity --flavor` print
them."""

from __future__ import annotations

from resource_tracker.audit.flavors import FlavorSeen
from resource_tracker.audit.last_audit import LastAudit
from resource_tracker.cmd import render


def sizes(flavor: FlavorSeen) -> str:
    """'1 vCPU, 2048 MiB, 20 GiB': the disk as placement's DISK_GB, its parts if more than
    the root disk."""
    vcpus = f"{flavor.vcpus} vCPU{'' if flavor.vcpus == 1 else 's'}"
    disk = f"{flavor.placement_disk_gb} GiB"
    if flavor.ephemeral_gb or flavor.swap_mb:
        disk += f" = {flavor.disk_gb} root + {flavor.ephemeral_gb} ephemeral"
        disk += f" + {flavor.swap_mb} MiB swap"
    return f"{vcpus}, {flavor.memory_mb} MiB, {disk}"


def flavors_line(recorded: LastAudit) -> str:
    """'flavors: m1.small x3 (1 vCPU, 2048 MiB, 20 GiB), ...; 1 domain without Nova's flavor'."""
    if recorded.flavors is None:
        return "flavors: not in this record (an older version wrote it; the next audit adds them)"
    seen = ", ".join(
        f"{render.printable(flavor.name)} x{flavor.domains} ({sizes(flavor)})"
        for flavor in recorded.flavors
    )
    line = f"flavors: {seen or 'none'}"
    apart = recorded.domains_without_flavor
    if apart:
        line += f"; {apart} domain{'' if apart == 1 else 's'} without Nova's flavor metadata"
    return line


def known_names(recorded: LastAudit) -> str:
    names = [render.printable(flavor.name) for flavor in recorded.flavors or ()]
    return ", ".join(names) if names else "none"
