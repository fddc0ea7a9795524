"""The option list that oslo-config-generator turns into the sample config."""

from resource_tracker.conf import (
    capacity,
    compute,
    database,
    default,
    devices,
    libvirt,
    metrics,
    neutron,
    nova,
    pci,
    placement,
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
        # the auth plugin's own options are registered once auth_type names it
        (placement.GROUP, placement.opts),
        (devices.GROUP, devices.opts),
    ]
