#!/usr/bin/env python3
"""How fast `capacity` answers: per flavor per host, and for a fleet from MariaDB.

    .venv/bin/python bench/capacity.py [--runs 5] [--hosts 1000] [--brute-budget 20]

1. One big host: 2 sockets x 2 NUMA cells x 64 CPUs (32 cores of 2 threads; 16 shared and
   48 dedicated per cell), 4 page sizes (4 KiB, 64 KiB, 2 MiB, 1 GiB), 100 guests of five
   of the flavors already placed (by our own fitting, then written as the row's numa_topology).
   For each of 10 flavors: the time to answer "how many more fit" (reading the row's JSON,
   placing guest after guest until one does not fit), median of --runs; and beside it the
   brute-force checker (tests/support/brute_fit.py: every assignment of cells, CPUs, pages
   and devices) deciding only whether ONE more guest fits, given --brute-budget seconds
   per flavor.
2. A fleet: --hosts rows like that host (each with its own use) in a private MariaDB, and
   `resource-tracker-manage capacity --format json` for the 10 flavors of a flavors file,
   the whole command timed (start-up, query, answer), median of --runs. The brute force's
   time for the fleet is not measured: its one-decision figures above times the guests
   that fit and the hosts is printed as an estimate.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from types import SimpleNamespace

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from resource_tracker.audit import nova_format  # noqa: E402
from resource_tracker.audit.devices import Pool  # noqa: E402
from resource_tracker.audit.fitting import host  # noqa: E402
from resource_tracker.audit.fitting.count import how_many, place  # noqa: E402
from resource_tracker.audit.fitting.flavor import Flavor, parse_aliases, request  # noqa: E402
from resource_tracker.audit.shape import CellUsage, PageUsage  # noqa: E402
from resource_tracker.db.api import Database  # noqa: E402
from resource_tracker.resources import ComputeNodeValues  # noqa: E402
from resource_tracker.units import KiB, MiB  # noqa: E402
from tests.support import brute_fit  # noqa: E402
from tests.support.fitting_cases import Wanted  # noqa: E402
from tests.support.mariadb import MariaDBServer, create_tracker_database  # noqa: E402
from tests.support.nodes import node  # noqa: E402

NIC = '{"name": "nic", "vendor_id": "8086", "product_id": "154d", "device_type": "type-VF"}'
DEDICATED = {"hw:cpu_policy": "dedicated"}
# name: (vcpus, ram MiB, disk GiB, extra specs, the Wanted the brute force reads)
FLAVORS = {
    "m1.small": (1, 2048, 20, {}),
    "m1.large": (4, 8192, 40, {}),
    "numa.2m": (4, 8192, 40, {"hw:mem_page_size": "2MB"}),
    "pinned.2": (2, 4096, 20, DEDICATED),
    "pinned.4": (4, 8192, 40, DEDICATED),
    "pinned.8.1g": (8, 16384, 40, DEDICATED | {"hw:mem_page_size": "1GB"}),
    "pinned.emu": (2, 4096, 20, DEDICATED | {"hw:emulator_threads_policy": "isolate"}),
    "mixed.4": (4, 8192, 40, {"hw:cpu_policy": "mixed", "hw:cpu_dedicated_mask": "^0"}),
    "two.cells": (8, 16384, 40, DEDICATED | {"hw:numa_nodes": "2"}),
    "sriov.2": (2, 4096, 20, DEDICATED | {"pci_passthrough:alias": "nic:1"}),
}
FILLERS = ("m1.small", "m1.large", "numa.2m", "pinned.2", "pinned.emu")  # the 100 guests
PAGE_SIZES_KB = (4, 64, 2048, 1048576)
POOL_GIB = {4: 96, 64: 16, 2048: 64, 1048576: 80}


def flavor(name: str) -> Flavor:
    vcpus, ram_mb, disk_gb, specs = FLAVORS[name]
    return Flavor(vcpus, ram_mb, root_gb=disk_gb, extra_specs=tuple(specs.items()), name=name)


def wanted(name: str) -> Wanted:
    vcpus, ram_mb, disk_gb, specs = FLAVORS[name]
    policy = specs.get("hw:cpu_policy")
    dedicated = frozenset(range(vcpus)) if policy == "dedicated" else frozenset()
    if policy == "mixed":
        dedicated = frozenset(range(1, vcpus))
    page = {"2MB": 2048, "1GB": 1048576}.get(specs.get("hw:mem_page_size", ""))
    nodes = int(specs["hw:numa_nodes"]) if "hw:numa_nodes" in specs else None
    pci = ("nic", 1, "legacy") if "pci_passthrough:alias" in specs else None
    emulator = specs.get("hw:emulator_threads_policy") == "isolate"
    return Wanted(vcpus, ram_mb, disk_gb, policy, dedicated, None, emulator, nodes, page, pci)


def empty_cells() -> list[CellUsage]:
    cells = []
    for cell_id in range(4):
        base = cell_id * 64
        cores = [frozenset({base + n, base + n + 32}) for n in range(32)]
        shared = frozenset(range(base, base + 8)) | frozenset(range(base + 32, base + 40))
        pages = tuple(
            PageUsage(size * KiB, POOL_GIB[size] * 1024 * 1024 // size, 0, 0, None)
            for size in PAGE_SIZES_KB
        )
        cells.append(
            CellUsage(
                id=cell_id, socket=cell_id // 2, shared_cpus=shared,
                dedicated_cpus=frozenset().union(*cores) - shared, siblings=tuple(cores),
                memory_bytes=sum(POOL_GIB.values()) * 1024 * MiB, vcpus_used=0,
                pinned_cpus=frozenset(), memory_used_bytes=0, pages=pages,
            )
        )  # fmt: skip
    return cells


def big_host(rng: random.Random, guests: int = 100) -> ComputeNodeValues:
    """The big host with `guests` guests of the flavors placed by our own fitting."""
    cells = empty_cells()
    pools = [Pool("8086", "154d", n, (("dev_type", "type-VF"),), 16) for n in range(4)]
    state = host.read(as_row(_values(cells, pools, vcpus_used=0, pcpus_used=0, memory_used=0)))
    aliases = parse_aliases([NIC])
    placed = 0
    while placed < guests:
        wanted_flavor = flavor(rng.choice(FILLERS))
        _cells, why = place(state, request(wanted_flavor, aliases))
        placed += not why
    cells = [
        CellUsage(
            c.id, c.socket, c.cpuset, c.pcpuset, c.siblings, c.memory_mb * MiB, c.cpu_usage,
            frozenset(c.pinned), c.memory_usage * MiB,
            tuple(PageUsage(p.size_kb * KiB, p.total, p.used, p.reserved, None) for p in c.pages),
        )
        for c in state.cells
    ]  # fmt: skip
    vf = (("dev_type", "type-VF"),)
    left = [
        Pool(p["vendor_id"], p["product_id"], p["numa_node"], vf, p["count"]) for p in state.pools
    ]
    used_mb = sum(c.memory_used_bytes // MiB for c in cells)
    pinned = sum(len(c.pinned_cpus) for c in cells)
    vcpus_used = sum(c.vcpus_used for c in cells) + pinned
    return _values(cells, left, vcpus_used=vcpus_used, pcpus_used=pinned, memory_used=used_mb)


def as_row(values: ComputeNodeValues) -> SimpleNamespace:
    return SimpleNamespace(**dataclasses.asdict(values))


def _values(cells, pools, vcpus_used, pcpus_used, memory_used) -> ComputeNodeValues:
    memory_mb = sum(c.memory_bytes // MiB for c in cells)
    unused_huge = sum(p.size_bytes // MiB * (p.total - p.used) for c in cells for p in c.pages[1:])
    return node(
        vcpus=64, vcpus_used=vcpus_used, pcpus=192, pcpus_used=pcpus_used,
        memory_mb=memory_mb, memory_mb_used=512 + memory_used,
        free_ram_mb=memory_mb - 512 - memory_used - unused_huge, cpu_allocation_ratio=4.0,
        ram_allocation_ratio=1.0, local_gb=20000, local_gb_used=4000,
        disk_available_least=14000, numa_topology=nova_format.numa_topology(cells),
        pci_stats=nova_format.pci_stats(pools),
    )  # fmt: skip


class OutOfTime(Exception):
    pass


def brute_one(row, name: str, budget_s: float) -> float | None:
    """Seconds the brute force takes to decide one more guest, None past the budget."""

    def stop(*_args):
        raise OutOfTime

    signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, budget_s)
    start = time.perf_counter()
    try:
        brute_fit.fits(row, wanted(name))
    except OutOfTime:
        return None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return time.perf_counter() - start


def per_host(args) -> dict[str, tuple[float, float, int, float | None]]:
    row = as_row(big_host(random.Random(1)))
    aliases = parse_aliases([NIC])
    results = {}
    for name in FLAVORS:
        wanted_request = request(flavor(name), aliases)
        times, cpu, fits = [], [], 0
        for _ in range(args.runs):
            start, start_cpu = time.perf_counter(), time.process_time()
            fits = how_many(host.read(row), wanted_request).fits
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        brute = brute_one(row, name, args.brute_budget)
        results[name] = (statistics.median(times), statistics.median(cpu), fits, brute)
    return results


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def fleet(args) -> tuple[float, float, int]:
    rng = random.Random(2)
    with tempfile.TemporaryDirectory(prefix="capacity-bench-") as basedir:
        server = MariaDBServer(basedir)
        server.initialize()
        server.start()
        try:
            url = create_tracker_database(server)
            with Database(url) as database:
                database.sync_schema()
                for index in range(args.hosts):
                    values = big_host(rng, guests=rng.randint(0, 100))
                    named = dataclasses.replace(values, hypervisor_hostname=f"host-{index}")
                    database.reconcile_compute_nodes(f"host-{index}", [named])
            flavors_file = os.path.join(basedir, "flavors.json")
            with open(flavors_file, "w") as out:
                json.dump({"flavors": {name: _spec(name) for name in FLAVORS}}, out)
            conf = os.path.join(basedir, "manage.conf")
            with open(conf, "w") as out:
                out.write(
                    f"[DEFAULT]\nhost = host-0\nstate_path = {basedir}\n"
                    "service_down_time = 604800\n[database]\n"  # all up: the fill is slow
                    f"connection = {url}\n[capacity]\nflavors_file = {flavors_file}\n"
                    f"[pci]\nalias = {NIC}\n"
                )
            manage = os.path.join(ROOT, ".venv", "bin", "resource-tracker-manage")
            times, cpu, total = [], [], 0
            for _ in range(args.runs):
                start, start_cpu = time.perf_counter(), _children_cpu()
                result = subprocess.run(
                    [manage, "--config-file", conf, "capacity", "--format", "json"],
                    capture_output=True, text=True, check=True,
                )  # fmt: skip
                times.append(time.perf_counter() - start)
                cpu.append(_children_cpu() - start_cpu)
                total = sum(f["fleet"] for f in json.loads(result.stdout)["flavors"])
            return statistics.median(times), statistics.median(cpu), total
        finally:
            server.stop()


def _spec(name: str) -> dict:
    vcpus, ram_mb, disk_gb, specs = FLAVORS[name]
    return {"vcpus": vcpus, "ram": ram_mb, "disk": disk_gb, "extra_specs": specs}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--brute-budget", type=float, default=20.0, help="seconds per flavor")
    args = parser.parse_args()

    print(
        "1. per flavor, one host of 2 sockets x 2 cells x 64 CPUs, 4 page sizes, 100 guests "
        f"(median of {args.runs})"
    )
    print(
        "| flavor | more fit | ours: how many (ms) | ours, CPU (ms) "
        "| brute force: one more? (ms) | brute / ours |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    per_answer_s = 0.0  # the brute force deciding each guest of each flavor on this host
    for name, (ours_s, ours_cpu_s, fits, brute_s) in per_host(args).items():
        if brute_s is None:
            brute, ratio = f"> {args.brute_budget * 1000:,.0f}", "-"
        else:
            brute, ratio = f"{brute_s * 1000:,.1f}", f"{brute_s / ours_s:,.1f}x"
        per_answer_s += (args.brute_budget if brute_s is None else brute_s) * (fits + 1)
        print(
            f"| {name} | {fits} | {ours_s * 1000:.2f} | {ours_cpu_s * 1000:.2f} | {brute} "
            f"| {ratio} |"
        )
    fleet_s, fleet_cpu_s, total = fleet(args)
    estimate_s = per_answer_s * args.hosts  # a lower bound where the budget ran out
    print(
        f"\n2. fleet: {args.hosts} hosts x {len(FLAVORS)} flavors from MariaDB, the whole "
        f"`capacity --format json` command: {fleet_s:.2f} s wall, {fleet_cpu_s:.2f} s CPU "
        f"(medians of {args.runs}); {total} more guests in all. Brute force estimated (not "
        f"run): >= {estimate_s / 3600:,.1f} h (one decision per guest that fits, and one more)"
    )
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
