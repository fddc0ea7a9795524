"""Nova 34 counting guests of a flavor onto a host row, with its own fitting code.

In Nova's throwaway virtualenv (tests/support/nova.py), for each case: the row's
numa_topology loaded with NUMATopology.obj_from_db_obj, its pci_stats as HostState loads
them into a PciDeviceStats, the flavor's NUMA topology from hardware.numa_get_constraints
and its PCI requests from pci.request.get_pci_requests_from_flavor ([pci] alias set,
the flavor's hw:pci_numa_affinity_policy passed as compute/api.py passes it); then
one guest after another as the scheduler's NUMATopologyFilter and consume_from_request do:
hardware.numa_fit_instance_to_host with the row's allocation ratios as limits and the PCI
requests, PciDeviceStats.apply_requests for the cells chosen (support_requests first for a
guest without NUMA cells), hardware.numa_usage_from_instance_numa. The count stops at the
first guest that does not fit (or `cap`). Flat resources (placement's) are not Nova's
fitting code: the cases leave them room.
"""

from __future__ import annotations

from typing import Any

from tests.support import nova

_SCRIPT = r"""
import json, sys, warnings
warnings.simplefilter("ignore")
import nova.conf
from nova import exception, objects
objects.register_all()
from nova.pci import request as pci_request, stats as pci_stats
from nova.virt import hardware
CONF = nova.conf.CONF
CONF([], project="nova", default_config_files=[])
payload = json.load(sys.stdin)
CONF.set_override("alias", payload["aliases"], group="pci")
IMAGE = objects.ImageMeta.from_dict({"properties": {}})
answers = []
for case in payload["cases"]:
    pci_request.get_alias_from_config.cache_clear()
    host = objects.NUMATopology.obj_from_db_obj(case["numa_topology"])
    pools = objects.PciDevicePoolList.obj_from_primitive(json.loads(case["pci_stats"]))
    stats = pci_stats.PciDeviceStats(host, stats=pools)
    limits = objects.NUMATopologyLimits(
        cpu_allocation_ratio=case["cpu_ratio"], ram_allocation_ratio=case["ram_ratio"])
    spec = case["flavor"]
    flavor = objects.Flavor(
        name="f", flavorid="f", vcpus=spec["vcpus"], memory_mb=spec["ram_mb"], root_gb=0,
        ephemeral_gb=0, swap=0, extra_specs=spec["extra_specs"])
    fits, error = 0, None
    while fits < case["cap"]:
        wanted = hardware.numa_get_constraints(flavor, IMAGE)
        policy = hardware.get_pci_numa_policy_constraint(flavor, IMAGE)  # as the API does
        requests = pci_request.get_pci_requests_from_flavor(flavor, policy).requests
        if wanted is None:
            if requests and not stats.support_requests(requests, None):
                break
            if requests:
                stats.apply_requests(requests, None)
        else:
            fitted = hardware.numa_fit_instance_to_host(
                host, wanted, None, limits, pci_requests=requests or None, pci_stats=stats)
            if fitted is None:
                break
            if requests:
                stats.apply_requests(requests, None, fitted.cells)
            try:
                host = hardware.numa_usage_from_instance_numa(host, fitted)
            except exception.NovaException as failed:
                error = str(failed)
                break
        fits += 1
    answers.append({"fits": fits, "claim_failed": error})
print(json.dumps(answers))
"""


def count(cases: list[dict[str, Any]], aliases: list[str]) -> list[dict[str, Any]]:
    """Per case {"fits": N, "claim_failed": None or Nova's message}; a case is a dict of
    numa_topology, pci_stats (our columns' JSON), cpu_ratio, ram_ratio, cap and flavor
    (vcpus, ram_mb, extra_specs)."""
    return nova.run(_SCRIPT, {"cases": cases, "aliases": aliases})
