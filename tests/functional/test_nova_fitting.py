"""Our count of guests that fit against Nova 34's own fitting code, on random hosts.

tests/support/fitting_cases.py makes hosts (1 to 4 NUMA cells of up to 6 cores, with or
without thread siblings, CPU sets new-style or legacy, 4 KiB, 2 MiB and 1 GiB pages with use
and reserves, PCI pools on cells or on none) written as our numa_topology and pci_stats
columns, and flavors (shared, dedicated and mixed CPUs, thread and emulator threads
policies, 1 or 2 NUMA nodes, every page size request, PCI aliases with every NUMA affinity
policy). Nova's code in its throwaway virtualenv counts the guests one after another
(tests/support/nova_fit.py); ours must give the same count for every case. Placement's flat
resources are given room: they are arithmetic on the row (tests/unit/audit/fitting), not
Nova's fitting code.
"""

from __future__ import annotations

import collections
import random

from resource_tracker.audit.fitting import host
from resource_tracker.audit.fitting.count import how_many
from resource_tracker.audit.fitting.flavor import parse_aliases, request
from tests.support import fitting_cases, nova_fit

CASES = 600
CAP = 1000
ROOMY = dict(
    vcpus=10**6, vcpus_used=0, memory_mb=10**9, memory_mb_used=0, free_ram_mb=10**9,
    reserved_host_memory_mb=0, local_gb=10**9, disk_available_least=10**9,
)  # fmt: skip


def cases(count: int):
    seed = 0
    while count:
        rng = random.Random(seed)
        row = fitting_cases.host(rng, max_cells=4, max_cores=6)
        flavor, wanted = fitting_cases.flavor(rng)
        seed += 1
        if not wanted.numa and not wanted.pci:
            continue  # neither NUMA cells nor devices: only placement's arithmetic limits it
        vars(row).update(ROOMY)
        if row.pcpus:
            row.pcpus, row.pcpus_used = 10**6, 0
        count -= 1
        yield seed - 1, row, flavor


def test_the_same_count_as_novas_own_fitting_code():
    aliases = parse_aliases(fitting_cases.ALIAS_SPECS.values())
    made = list(cases(CASES))
    ours = [how_many(host.read(row), request(flavor, aliases)) for _seed, row, flavor in made]
    novas = nova_fit.count(
        [
            {
                "numa_topology": row.numa_topology,
                "pci_stats": row.pci_stats,
                "cpu_ratio": row.cpu_allocation_ratio,
                "ram_ratio": row.ram_allocation_ratio,
                "cap": CAP,
                "flavor": {
                    "vcpus": flavor.vcpus,
                    "ram_mb": flavor.ram_mb,
                    "extra_specs": dict(flavor.extra_specs),
                },
            }
            for _seed, row, flavor in made
        ],
        list(fitting_cases.ALIAS_SPECS.values()),
    )

    differ = [
        (seed, answer, nova)
        for (seed, _row, _flavor), answer, nova in zip(made, ours, novas, strict=True)
        if answer.fits != nova["fits"]
    ]
    assert not differ, f"{len(differ)} of {CASES} differ, e.g. seed, ours, Nova's: {differ[:3]}"
    # the cases reach what they are meant to: guests that fit, and each kind of limit
    counts = collections.Counter(min(answer.fits, 3) for answer in ours)
    assert counts[0] and counts[1] and counts[2] and counts[3], counts
    limits = " ".join(answer.limited_by for answer in ours)
    for kind in ("huge pages", "dedicated CPUs", "memory", "PCI devices", "NUMA nodes"):
        assert kind in limits, kind
    # where Nova's fitting code picks CPUs its own claim then refuses, we stop there too
    failed = [a for a, n in zip(ours, novas, strict=True) if n["claim_failed"]]
    assert all("Nova's claim would fail" in answer.limited_by for answer in failed)
