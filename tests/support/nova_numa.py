"""Nova 34's own placement and accounting of instances, for comparing our rows with it.

Runs in Nova's throwaway virtualenv (tests/support/nova.py). `place()` builds the host's
NUMATopology with Nova's libvirt driver (`_get_host_numa_topology`) from a capabilities XML,
fits each flavor with `hardware.numa_fit_instance_to_host` as the scheduler and the claim
would, counts it with `hardware.numa_usage_from_instance_numa` as the resource tracker does,
and writes each guest's domain XML with the driver's own code (`_get_guest_numa_config`,
`_get_guest_memory_backing_config`, `_get_guest_config_meta` objects, `<vcpu cpuset>` as
`_get_guest_config` sets it). `probe()` asks `numa_fit_instance_to_host` whether flavors fit
on a numa_topology column (ours) and on Nova's own (None, or per guest cell the host cell,
how many CPUs are pinned and reserved for the emulator, the page size), and whether the
CPUs chosen on ours could be claimed on Nova's own. `track()` runs the resource tracker's
`_update_usage_from_instances` over instances in given vm_states.
"""

from __future__ import annotations

from typing import Any

from tests.support import nova

_PRELUDE = r"""
import json, sys, uuid, warnings
warnings.simplefilter("ignore")
from oslo_config import cfg
import nova.conf
from nova import objects
objects.register_all()
from nova.objects import fields
from nova.virt import hardware
from nova.virt.libvirt import config as vconfig
from nova.virt.libvirt import driver as libvirt_driver
CONF = nova.conf.CONF
CONF([], project="nova", default_config_files=[])
nova.conf.neutron.register_dynamic_opts(CONF)
payload = json.load(sys.stdin)
for group, name, value in payload.get("conf", ()):
    CONF.set_override(name, value, group=group)


class FakeHost:
    def __init__(self, caps_xml):
        self.caps = vconfig.LibvirtConfigCaps()
        self.caps.parse_str(caps_xml)

    def get_capabilities(self):
        return self.caps

    def get_online_cpus(self):
        return {cpu.id for cell in self.caps.host.topology.cells for cpu in cell.cpus
                if cpu.socket_id is not None}


def make_driver(caps_xml):
    driver = libvirt_driver.LibvirtDriver.__new__(libvirt_driver.LibvirtDriver)
    driver._host = FakeHost(caps_xml)
    driver._reserved_hugepages = {}
    driver._has_numa_support = lambda: True
    return driver


def flavor_of(spec):
    return objects.Flavor(
        name=spec["name"], flavorid=spec["name"], vcpus=spec["vcpus"],
        memory_mb=spec["memory_mb"], root_gb=0, ephemeral_gb=0, swap=0,
        extra_specs=spec.get("extra_specs", {}))


IMAGE = objects.ImageMeta.from_dict({"properties": {}})
# no over-commit of shared CPUs or memory: a cell's cpu_usage and memory_usage decide
LIMITS = objects.NUMATopologyLimits(cpu_allocation_ratio=1.0, ram_allocation_ratio=1.0)


def cells_of(topology):
    return [
        {"id": c.id, "cpu_usage": c.cpu_usage, "memory_usage": c.memory_usage,
         "pinned_cpus": sorted(c.pinned_cpus),
         "mempages": {str(p.size_kb): p.used for p in c.mempages}}
        for c in topology.cells
    ]
"""

_PLACE = r"""
driver = make_driver(payload["caps"])
host = driver._get_host_numa_topology()
driver._get_host_numa_topology = lambda: host  # the driver asks it again for each guest
used = host
xmls = []
for spec in payload["instances"]:
    flavor = flavor_of(spec)
    wanted = hardware.numa_get_constraints(flavor, IMAGE)
    fitted = None
    if wanted is not None:
        fitted = hardware.numa_fit_instance_to_host(used, wanted, None, LIMITS)
        if fitted is None:
            raise SystemExit(f"{spec['name']} does not fit: {used}")
        used = hardware.numa_usage_from_instance_numa(used, fitted)
    numa = driver._get_guest_numa_config(fitted, flavor, IMAGE)
    guest = vconfig.LibvirtConfigGuest()
    guest.virt_type = "kvm"
    guest.name = spec["name"]
    guest.uuid = str(uuid.uuid4())
    guest.memory = flavor.memory_mb * 1024
    guest.vcpus = flavor.vcpus
    guest.cpuset = numa.cpuset
    guest.cputune = numa.cputune
    guest.numatune = numa.numatune
    guest.os_type = "hvm"
    cpu = vconfig.LibvirtConfigGuestCPU()
    cpu.mode = "host-model"
    cpu.numa = numa.numaconfig
    guest.cpu = cpu
    guest.membacking = driver._get_guest_memory_backing_config(
        fitted, numa.numatune, flavor, IMAGE)
    meta = vconfig.LibvirtConfigGuestMetaNovaInstance()
    meta.package, meta.name = "34.0.0", spec["name"]
    fmeta = vconfig.LibvirtConfigGuestMetaNovaFlavor()
    fmeta.name, fmeta.id = flavor.name, flavor.flavorid
    fmeta.memory, fmeta.vcpus = flavor.memory_mb, flavor.vcpus
    fmeta.extra_specs = flavor.extra_specs
    meta.flavor = fmeta
    guest.metadata.append(meta)
    xmls.append(guest.to_xml())
print(json.dumps({"xml": xmls, "host": used._to_json(), "cells": cells_of(used)}))
"""

_PROBE = r"""
from nova import exception


def fit(topology, spec):
    return hardware.numa_fit_instance_to_host(
        topology, hardware.numa_get_constraints(flavor_of(spec), IMAGE), None, LIMITS)


def verdict(fitted):
    # Which CPUs of a cell are chosen follows the order of its siblings list (Nova writes
    # its sets in hash order, we sorted): the cell and the counts are the verdict.
    if fitted is None:
        return None
    return [[cell.id, len(cell.cpu_pinning or {}), len(cell.cpuset_reserved or ()),
             cell.pagesize] for cell in fitted.cells]


def claims_on(topology, fitted):
    # what Nova's tracker does with the claim: pinning a CPU it has pinned already raises
    if fitted is None:
        return True
    try:
        hardware.numa_usage_from_instance_numa(topology, fitted)
    except exception.NovaException:
        return False
    return True


ours = objects.NUMATopology.obj_from_db_obj(payload["ours"])
novas = objects.NUMATopology.obj_from_db_obj(payload["nova"])
result = []
for spec in payload["probes"]:
    on_ours = fit(ours, spec)
    result.append({"name": spec["name"], "ours": verdict(on_ours),
                   "nova": verdict(fit(novas, spec)), "claims": claims_on(novas, on_ours)})
print(json.dumps(result))
"""

_TRACK = r"""
import collections
from nova import context as nova_context
from nova.compute import resource_tracker, stats as compute_stats
for name in ("reserved_host_memory_mb", "reserved_host_disk_mb", "reserved_host_cpus"):
    CONF.set_override(name, payload["policy"][name])
tracker = resource_tracker.ResourceTracker.__new__(resource_tracker.ResourceTracker)
tracker.pci_tracker = None
tracker.stats = collections.defaultdict(compute_stats.Stats)
tracker.tracked_instances = set()
tracker.is_bfv = {}
node = payload["node"]
cn = objects.ComputeNode(
    memory_mb=node["memory_mb"], local_gb=node["local_gb"], vcpus=node["vcpus"],
    numa_topology=None, memory_mb_used=0, local_gb_used=0, vcpus_used=0)
tracker.compute_nodes = {"node": cn}
context = nova_context.get_admin_context()
instances = []
for spec in payload["instances"]:
    instance = objects.Instance(
        context=context, uuid=str(uuid.uuid4()), vm_state=spec["vm_state"], task_state=None,
        os_type="hvm", project_id="p", flavor=flavor_of(spec), numa_topology=None)
    tracker.is_bfv[instance.uuid] = False
    instances.append(instance)
tracker._update_usage_from_instances(context, instances, "node")
print(json.dumps({
    key: getattr(cn, key)
    for key in ("vcpus_used", "memory_mb_used", "local_gb_used", "free_ram_mb",
                "free_disk_gb", "running_vms")
} | {"stats": dict(tracker.stats["node"])}))
"""


def conf(
    dedicated: str | None = None, shared: str | None = None, pin_set: str | None = None
) -> list[list[Any]]:
    """Nova's CPU set options, as (group, name, value) overrides."""
    return [
        ["compute", "cpu_dedicated_set", dedicated],
        ["compute", "cpu_shared_set", shared],
        [None, "vcpu_pin_set", pin_set],
    ]


def flavor(name: str, vcpus: int, memory_mb: int, **extra_specs: str) -> dict[str, Any]:
    return {"name": name, "vcpus": vcpus, "memory_mb": memory_mb, "extra_specs": extra_specs}


def place(caps: str, cpu_conf: list, instances: list[dict]) -> dict[str, Any]:
    """{"xml": [domain XML], "host": Nova's numa_topology column, "cells": its usage}."""
    return nova.run(_PRELUDE + _PLACE, {"caps": caps, "conf": cpu_conf, "instances": instances})


def probe(ours: str, novas: str, probes: list[dict]) -> list[dict[str, Any]]:
    return nova.run(_PRELUDE + _PROBE, {"ours": ours, "nova": novas, "probes": probes})


def track(node: dict, policy: dict, instances: list[dict]) -> dict[str, Any]:
    return nova.run(_PRELUDE + _TRACK, {"node": node, "policy": policy, "instances": instances})
