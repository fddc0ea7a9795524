"""The option list that oslo-config-generator turns into the sample config."""

from resource_tracker.conf import compute, database, default, libvirt, metrics, pci


def list_opts():
    return [
        ("DEFAULT", default.opts),
        (libvirt.GROUP, libvirt.opts),
        (compute.GROUP, compute.opts),
        (database.GROUP, database.opts),
        (metrics.GROUP, metrics.opts),
        (pci.GROUP, pci.opts),
    ]
