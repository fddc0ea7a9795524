"""The option list that oslo-config-generator turns into the sample config."""

from resource_tracker.conf import (
    capacity,
    compute,
    database,
    default,
    libvirt,
    metrics,
    neutron,
    nova,
    pci,
)


def list_opts():
    return [
        ("DEFAULT", [*default.opts, nova.nova_config_file]),
        (libvirt.GROUP, libvirt.opts),
        (compute.GROUP, compute.opts),
        (database.GROUP, database.opts),
        (metrics.GROUP, metrics.opts),
        (pci.GROUP, pci.opts),
        (neutron.GROUP, neutron.opts),
        (neutron.TUNNEL_GROUP, neutron.tunnel_opts),
        (capacity.GROUP, capacity.opts),
    ]
