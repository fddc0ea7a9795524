"""Random hosts (compute_nodes rows as we write them), their use, and flavors, from a seed.

A case is built from one integer with random.Random, so hypothesis draws and replays seeds
cheaply (10,000 cases must take seconds) and a failure names its seed. Each flavor comes
both as Nova's extra specs (what our parser reads) and as the plain facts they mean
(`Wanted`, what the brute-force checker reads), so the checker shares no parsing with us.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from types import SimpleNamespace

from resource_tracker.audit import nova_format
from resource_tracker.audit.devices import Pool
from resource_tracker.audit.fitting.flavor import Flavor
from resource_tracker.audit.shape import CellUsage, PageUsage
from resource_tracker.units import KiB, MiB

SMALL_KB, HUGE_2M_KB, HUGE_1G_KB = 4, 2048, 1048576
ALIAS_SPECS = {
    "nic": '{"name": "nic", "vendor_id": "8086", "product_id": "154d", "device_type": "type-VF"}',
    "gpu": '{"name": "gpu", "vendor_id": "10de", "product_id": "1eb8"}',
}
ALIAS_IDS = {"nic": ("8086", "154d", "type-VF"), "gpu": ("10de", "1eb8", None)}


@dataclass(frozen=True)
class Wanted:
    """A flavor's needs, plainly: the checker's input."""

    vcpus: int
    ram_mb: int
    disk_gb: int
    policy: str | None  # None, shared, dedicated, mixed
    dedicated: frozenset[int]  # guest vCPUs pinned
    threads: str | None
    emulator_isolate: bool
    nodes: int | None  # hw:numa_nodes; None: one cell if any
    page: str | int | None  # small, large, any, a size in KiB, None
    pci: tuple[str, int, str] | None  # alias, count, NUMA policy

    @property
    def numa(self) -> bool:
        return bool(self.nodes) or self.page is not None or self.policy in ("dedicated", "mixed")


def host(rng: random.Random, max_cells: int = 3, max_cores: int = 4, sizes=None):
    """A compute_nodes row with NUMA cells, their use and PCI pools."""
    legacy = rng.random() < 0.3
    cells = []
    cpu = 0
    for cell_id in range(rng.randint(1, max_cells)):
        threads = rng.choice((1, 2))
        cores = [
            frozenset(range(cpu + n * threads, cpu + (n + 1) * threads))
            for n in range(rng.randint(1, max_cores))
        ]
        cpu += len(cores) * threads
        everything = frozenset().union(*cores)
        if legacy:
            shared = dedicated = everything
        else:
            split = rng.randint(0, len(cores))
            shared = frozenset().union(*cores[:split])
            dedicated = everything - shared
        cells.append(_cell(rng, cell_id, cores, shared, dedicated, sizes))
    pools = _pools(rng, len(cells))
    return _row(rng, cells, pools, legacy)


def _cell(rng, cell_id, cores, shared, dedicated, sizes) -> CellUsage:
    huge = [(HUGE_2M_KB, rng.randint(0, 4) * 128), (HUGE_1G_KB, rng.randint(0, 2))]
    if sizes:
        huge = [(size, rng.randint(0, 6)) for size in sizes]
    small_mb = rng.choice((512, 1024, 2048, 4096))
    pages = [PageUsage(SMALL_KB * KiB, small_mb * 256, 0, 0, None)]
    for size_kb, total in huge:
        if rng.random() < 0.8:
            pages.append(PageUsage(size_kb * KiB, total, 0, 0, None))
    memory_mb = sum(p.size_bytes // KiB * p.total for p in pages) // 1024
    used_pages = []
    for page in pages:
        reserved = rng.randint(0, page.total // 4) if rng.random() < 0.2 else 0
        used = rng.randint(0, page.total - reserved) if rng.random() < 0.6 else 0
        used_pages.append(PageUsage(page.size_bytes, page.total, used, reserved, None))
    small_used_mb = used_pages[0].used // 256
    pinned = frozenset(cpu for cpu in dedicated if rng.random() < 0.3)
    return CellUsage(
        id=cell_id,
        socket=None if rng.random() < 0.05 else cell_id // 2,
        shared_cpus=shared,
        dedicated_cpus=dedicated,
        siblings=tuple(core & (shared | dedicated) for core in cores),
        memory_bytes=memory_mb * MiB,
        vcpus_used=rng.randint(0, 2 * len(shared)) if shared else 0,
        pinned_cpus=pinned,
        memory_used_bytes=min(memory_mb, small_used_mb + rng.choice((0, 0, 256, 512))) * MiB,
        pages=tuple(used_pages),
    )


def _pools(rng: random.Random, cells: int) -> list[Pool]:
    pools = []
    for _ in range(rng.randint(0, 3)):
        vendor, product, dev_type = ALIAS_IDS[rng.choice(tuple(ALIAS_IDS))]
        dev_type = dev_type or rng.choice(("type-PCI", "type-PF"))
        node = None if rng.random() < 0.15 else rng.randrange(cells)
        tags = (("dev_type", dev_type),)
        pools.append(Pool(vendor, product, node, tags, rng.randint(1, 3)))
    return pools


def _row(rng: random.Random, cells: list[CellUsage], pools: list[Pool], legacy: bool):
    vcpus = sum(len(c.shared_cpus) for c in cells) or 1
    pcpus = 0 if legacy else sum(len(c.dedicated_cpus) for c in cells)
    memory_mb = sum(c.memory_bytes // MiB for c in cells)
    free_huge_mb = sum(
        p.size_bytes // MiB * (p.total - p.used) for c in cells for p in c.pages[1:]
    )
    used_mb = sum(c.memory_used_bytes // MiB for c in cells)
    reserved_mb = rng.choice((0, 256))
    flat_tight = rng.random() < 0.2
    return SimpleNamespace(
        host="h",
        vcpus=vcpus,
        vcpus_used=rng.randint(0, vcpus) if flat_tight else 0,
        reserved_host_cpus=0,
        cpu_allocation_ratio=rng.choice((1.0, 4.0, 16.0)),
        pcpus=pcpus or None,
        pcpus_used=sum(len(c.pinned_cpus & c.dedicated_cpus) for c in cells) if pcpus else None,
        memory_mb=memory_mb,
        memory_mb_used=reserved_mb + used_mb,
        free_ram_mb=memory_mb - reserved_mb - used_mb - free_huge_mb,
        reserved_host_memory_mb=reserved_mb,
        ram_allocation_ratio=rng.choice((1.0, 1.5)),
        local_gb=rng.choice((20, 100, 1000)) if flat_tight else 10_000,
        local_gb_used=0,
        disk_available_least=rng.choice((10, 50, 500)) if flat_tight else 10_000,
        reserved_host_disk_mb=0,
        disk_allocation_ratio=1.0,
        numa_topology=nova_format.numa_topology(cells),
        pci_stats=nova_format.pci_stats(pools),
        mdev_capacity=None,
    )


def flavor(rng: random.Random, size_words: bool = True) -> tuple[Flavor, Wanted]:
    """A flavor and its needs. Without `size_words`, a guest asks small pages or one size,
    never `any` or `large` (see the brute-force test)."""
    nodes = rng.choice((None, None, None, 1, 2))
    vcpus = rng.choice((1, 2, 2, 3, 4)) * (nodes or 1)
    ram_mb = rng.choice((256, 512, 1024, 2048)) * (nodes or 1)
    policy = rng.choice((None, None, "shared", "dedicated", "dedicated", "mixed"))
    specs: dict[str, str] = {}
    dedicated: frozenset[int] = frozenset()
    if policy == "mixed" and vcpus < 2:
        policy = "dedicated"
    if policy:
        specs["hw:cpu_policy"] = policy
    if policy == "dedicated":
        dedicated = frozenset(range(vcpus))
    if policy == "mixed":
        dedicated = frozenset(rng.sample(range(vcpus), rng.randint(1, vcpus - 1)))
        specs["hw:cpu_dedicated_mask"] = ",".join(map(str, sorted(dedicated)))
    threads = emulator = None
    if policy in ("dedicated", "mixed"):
        threads = rng.choice((None, None, "prefer", "isolate", "require"))
        emulator = rng.choice((None, None, "share", "isolate"))
    if threads:
        specs["hw:cpu_thread_policy"] = threads
    if emulator:
        specs["hw:emulator_threads_policy"] = emulator
    if nodes:
        specs["hw:numa_nodes"] = str(nodes)
    choices: list = [None, None, "small", "large", "any", HUGE_2M_KB, HUGE_1G_KB]
    if not size_words:
        choices = [None, None, "small", HUGE_2M_KB, HUGE_1G_KB]
    page = rng.choice(choices)
    if page == HUGE_1G_KB:
        ram_mb = 1024 * (nodes or 1)
    if page is not None:
        specs["hw:mem_page_size"] = str(page)
    pci = None
    if rng.random() < 0.3:
        affinity = rng.choice(("legacy", "required", "preferred", "socket"))
        pci = (rng.choice(tuple(ALIAS_SPECS)), rng.randint(1, 2), affinity)
        specs["pci_passthrough:alias"] = f"{pci[0]}:{pci[1]}"
        specs["hw:pci_numa_affinity_policy"] = pci[2]
    disk_gb = rng.choice((0, 10, 40))
    made = Flavor(vcpus, ram_mb, root_gb=disk_gb, extra_specs=tuple(sorted(specs.items())))
    isolate = emulator == "isolate"
    wanted = Wanted(vcpus, ram_mb, disk_gb, policy, dedicated, threads, isolate, nodes, page, pci)
    return made, wanted
