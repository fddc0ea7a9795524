"""A flavor and what it asks of a host, as Nova 34 reads its extra specs.

The specs that change placement are read as Nova's hardware.numa_get_constraints,
scheduler/utils.py ResourceRequest and pci/request.py read them (no image properties: a
flavor alone): the CPU policy and its dedicated mask, the thread and emulator threads
policies, the guest NUMA cells (hw:numa_nodes, hw:numa_cpus.N/hw:numa_mem.N), the page
size, PCI aliases (with [pci] alias in Nova's JSON) and resources:VGPU. Specs that do not
change where a guest fits (CPU topology, watchdog, quotas, ...) are accepted and ignored;
any other spec is a FlavorError naming it, never silently ignored.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from resource_tracker import cpuset
from resource_tracker.units import KiB, parse_size

# Nova's MEMPAGES_SMALL, _LARGE and _ANY: page size requests that are not a size
PAGES_SMALL, PAGES_LARGE, PAGES_ANY = -1, -2, -3
PAGE_WORDS = {"small": PAGES_SMALL, "large": PAGES_LARGE, "any": PAGES_ANY}
SHARED, DEDICATED, MIXED = "shared", "dedicated", "mixed"
THREAD_POLICIES = ("prefer", "isolate", "require")
EMULATOR_POLICIES = ("share", "isolate")
PCI_NUMA_POLICIES = ("required", "legacy", "preferred", "socket")
NUMA_NODES_MAX = 8  # Nova's ImageMetaProps.NUMA_NODES_MAX

IGNORED_SPECS = frozenset((
    "hw:cpu_sockets", "hw:cpu_cores", "hw:cpu_threads", "hw:cpu_max_sockets",
    "hw:cpu_max_cores", "hw:cpu_max_threads", "hw:watchdog_action", "hw:boot_menu",
    "hw:serial_port_count", "hw:vif_multiqueue_enabled", "hw:hide_hypervisor_id",
    "hw:machine_type", "hw:pmu", "hw:tpm_model", "hw:tpm_version", "hw:virtio_packed_ring",
    "hw:cpu_model", "hw:cpu_mode", "hw:disk_bus", "hw:video_model", "os:secure_boot",
))  # fmt: skip
IGNORED_PREFIXES = ("quota:", "hw_rng:", "hw_video:")
PER_CELL = re.compile(r"^hw:numa_(cpus|mem)\.(\d+)$")


class FlavorError(ValueError):
    """A flavor or alias Nova would refuse, or a spec we cannot weigh: one line naming it."""


@dataclass(frozen=True, slots=True)
class Flavor:
    """A Nova flavor: vCPUs, RAM in MiB, root and ephemeral disk in GiB, swap in MiB."""

    vcpus: int
    ram_mb: int
    root_gb: int = 0
    ephemeral_gb: int = 0
    swap_mb: int = 0
    extra_specs: tuple[tuple[str, str], ...] = ()
    name: str | None = None

    @property
    def disk_gb(self) -> int:
        """DISK_GB as Nova 34 asks placement for it: root + ephemeral + swap in whole GiB."""
        return self.root_gb + self.ephemeral_gb + math.ceil(self.swap_mb / 1024)

    def label(self) -> str:
        return self.name or f"{self.vcpus}vcpu-{self.ram_mb}mb-{self.disk_gb}gb"


@dataclass(frozen=True, slots=True)
class GuestCell:
    """One guest NUMA cell (Nova's InstanceNUMACell): its shared and dedicated vCPUs."""

    id: int
    shared: frozenset[int]
    dedicated: frozenset[int]
    memory_mb: int


@dataclass(frozen=True, slots=True)
class PciRequest:
    """One alias of pci_passthrough:alias: `count` devices matching any of `specs`."""

    alias: str
    count: int
    specs: tuple[tuple[tuple[str, str], ...], ...]
    numa_policy: str


@dataclass(frozen=True, slots=True)
class Request:
    """What one guest of a flavor takes from a host."""

    vcpus: int  # placement's VCPU
    pcpus: int  # placement's PCPU (with the emulator threads' own CPU)
    memory_mb: int
    disk_gb: int
    vgpus: int
    cells: tuple[GuestCell, ...] | None  # None: no NUMA topology, Nova fits no cells
    cpu_policy: str | None
    thread_policy: str | None
    emulator_isolate: bool
    page_size: int | None  # KiB, or PAGES_*; None: not asked
    pci: tuple[PciRequest, ...]

    @property
    def pinned(self) -> bool:
        return self.cpu_policy in (DEDICATED, MIXED)


Aliases = Mapping[str, tuple[str, tuple[tuple[tuple[str, str], ...], ...]]]


def parse_aliases(texts: Iterable[str], where: str = "[pci] alias") -> Aliases:
    """Nova's [pci] alias values (JSON objects) by name: (numa_policy, specs)."""
    allowed = {"name", "product_id", "vendor_id", "device_type", "numa_policy"}
    allowed |= {"capability_type", "resource_class", "traits", "live_migratable"}
    aliases: dict[str, tuple[str, list[tuple[tuple[str, str], ...]]]] = {}
    for text in texts:
        try:
            alias = json.loads(text)
        except ValueError as error:
            raise FlavorError(f"{where}: not JSON: {text!r} ({error})") from None
        if not isinstance(alias, dict) or not isinstance(alias.get("name"), str):
            raise FlavorError(f"{where}: {text!r}: a JSON object with a name")
        unknown = sorted(set(alias) - allowed)
        if unknown or not all(isinstance(value, str) for value in alias.values()):
            raise FlavorError(f"{where}: {text!r}: unknown key(s) {unknown} or a non-string")
        if "vendor_id" not in alias or "product_id" not in alias:
            raise FlavorError(f"{where}: {alias['name']!r} has no vendor_id and product_id")
        policy = alias.pop("numa_policy", None) or "legacy"
        if policy not in PCI_NUMA_POLICIES:
            raise FlavorError(f"{where}: {alias['name']!r}: numa_policy {policy!r}")
        name = alias.pop("name").strip()
        if "device_type" in alias:
            alias["dev_type"] = alias.pop("device_type")
        for key in ("resource_class", "traits", "capability_type"):
            alias.pop(key, None)  # placement's to match, not the pools'
        spec = tuple(sorted(alias.items()))
        if name in aliases and aliases[name][0] != policy:
            raise FlavorError(f"{where}: NUMA policy mismatch for alias {name!r}")
        aliases.setdefault(name, (policy, []))[1].append(spec)
    return {name: (policy, tuple(specs)) for name, (policy, specs) in aliases.items()}


def request(flavor: Flavor, aliases: Aliases | None = None) -> Request:
    """What a guest of `flavor` asks; FlavorError naming the spec Nova would refuse."""
    specs = dict(flavor.extra_specs)
    name = f"flavor {flavor.label()}"
    for key in specs:
        if not _known(key):
            raise FlavorError(f"{name}: unknown extra spec {key!r}: it may change placement")
    policy = _choice(specs, "hw:cpu_policy", (SHARED, DEDICATED, MIXED), name)
    threads = _choice(specs, "hw:cpu_thread_policy", THREAD_POLICIES, name)
    emulator = _choice(specs, "hw:emulator_threads_policy", EMULATOR_POLICIES, name)
    dedicated = _dedicated_mask(specs, flavor.vcpus, name)
    if policy in (SHARED, None):
        for key, value in (
            ("hw:cpu_thread_policy", threads),
            ("hw:cpu_dedicated_mask", dedicated),
        ):
            if value:
                raise FlavorError(f"{name}: {key} needs hw:cpu_policy dedicated or mixed")
        if emulator == "isolate":
            raise FlavorError(f"{name}: hw:emulator_threads_policy=isolate needs pinned CPUs")
    elif policy == DEDICATED:
        if dedicated:
            raise FlavorError(f"{name}: hw:cpu_dedicated_mask needs hw:cpu_policy=mixed")
        dedicated = frozenset(range(flavor.vcpus))
    elif not dedicated:
        raise FlavorError(f"{name}: hw:cpu_policy=mixed needs hw:cpu_dedicated_mask")
    page_size = _page_size(specs.get("hw:mem_page_size"), name)
    nodes = _positive(specs, "hw:numa_nodes", name)
    cells = None
    if nodes or page_size is not None or policy in (DEDICATED, MIXED):
        cells = _cells(flavor, nodes or 1, dedicated or frozenset(), specs, name)
    pcpus = len(dedicated or ()) + (1 if emulator == "isolate" else 0)
    return Request(
        vcpus=flavor.vcpus - len(dedicated or ()),
        pcpus=pcpus,
        memory_mb=flavor.ram_mb,
        disk_gb=flavor.disk_gb,
        vgpus=_positive(specs, "resources:VGPU", name) or 0,
        cells=cells,
        cpu_policy=policy,
        thread_policy=threads,
        emulator_isolate=emulator == "isolate",
        page_size=page_size,
        pci=_pci(specs, aliases or {}, name),
    )


def _known(key: str) -> bool:
    return (
        key in IGNORED_SPECS
        or key.startswith(IGNORED_PREFIXES)
        or bool(PER_CELL.match(key))
        or key
        in (
            "hw:cpu_policy", "hw:cpu_thread_policy", "hw:emulator_threads_policy",
            "hw:cpu_dedicated_mask", "hw:numa_nodes", "hw:mem_page_size",
            "pci_passthrough:alias", "hw:pci_numa_affinity_policy", "resources:VGPU",
        )
    )  # fmt: skip


def _choice(specs: Mapping[str, str], key: str, allowed: tuple[str, ...], name: str):
    value = specs.get(key)
    if value is not None and value not in allowed:
        raise FlavorError(f"{name}: {key}={value!r}: not one of {', '.join(allowed)}")
    return value


def _positive(specs: Mapping[str, str], key: str, name: str) -> int | None:
    value = specs.get(key)
    if value is None:
        return None
    if not value.strip().isdigit() or int(value) < 1:
        raise FlavorError(f"{name}: {key}={value!r}: not a positive whole number")
    return int(value)


def _dedicated_mask(specs: Mapping[str, str], vcpus: int, name: str) -> frozenset[int] | None:
    mask = specs.get("hw:cpu_dedicated_mask")
    if not mask:
        return None
    text = f"0-{vcpus - 1},{mask}" if mask.strip().startswith("^") else mask
    try:
        dedicated = cpuset.parse(text)
    except ValueError as error:
        raise FlavorError(f"{name}: hw:cpu_dedicated_mask={mask!r}: {error}") from None
    if not dedicated <= frozenset(range(vcpus)) or len(dedicated) == vcpus:
        raise FlavorError(
            f"{name}: hw:cpu_dedicated_mask={mask!r}: must name some, not all, of vCPUs "
            f"0-{vcpus - 1}"
        )
    return dedicated


def _page_size(value: str | None, name: str) -> int | None:
    if value is None:
        return None
    if value in PAGE_WORDS:
        return PAGE_WORDS[value]
    try:
        size_kb = parse_size(value, KiB) // KiB  # a bare number is KiB, as in Nova
    except ValueError:
        size_kb = 0
    if size_kb < 1:
        raise FlavorError(f"{name}: hw:mem_page_size={value!r}: small, large, any or a size")
    return size_kb


def _cells(
    flavor: Flavor, nodes: int, dedicated: frozenset[int], specs: Mapping[str, str], name: str
) -> tuple[GuestCell, ...]:
    """Nova's _get_numa_topology_auto and _get_numa_topology_manual."""
    cpu_list = _per_cell(specs, "hw:numa_cpus", name)
    mem_list = _per_cell(specs, "hw:numa_mem", name)
    if cpu_list is None and mem_list is None:
        if flavor.vcpus % nodes or flavor.ram_mb % nodes:
            raise FlavorError(
                f"{name}: {flavor.vcpus} vCPUs and {flavor.ram_mb} MiB do not divide into "
                f"hw:numa_nodes={nodes} equal cells"
            )
        per_cpus, per_mem = flavor.vcpus // nodes, flavor.ram_mb // nodes
        groups = [frozenset(range(n * per_cpus, (n + 1) * per_cpus)) for n in range(nodes)]
        return tuple(
            GuestCell(n, cpus - dedicated, cpus & dedicated, per_mem)
            for n, cpus in enumerate(groups)
        )
    if cpu_list is None or mem_list is None or len(cpu_list) != nodes or len(mem_list) != nodes:
        raise FlavorError(
            f"{name}: hw:numa_cpus.N and hw:numa_mem.N must both be given for each of the "
            f"{nodes} cell(s) of hw:numa_nodes"
        )
    seen: set[int] = set()
    groups = []
    for text in cpu_list:
        try:
            cpus = cpuset.parse(text)
        except ValueError as error:
            raise FlavorError(f"{name}: hw:numa_cpus: {error}") from None
        if max(cpus) >= flavor.vcpus or cpus & seen:
            raise FlavorError(f"{name}: hw:numa_cpus: {text!r} out of range or named twice")
        seen |= cpus
        groups.append(cpus)
    if len(seen) != flavor.vcpus:
        raise FlavorError(f"{name}: hw:numa_cpus.N leave vCPUs unassigned")
    memory = []
    for text in mem_list:
        if not text.strip().isdigit():
            raise FlavorError(f"{name}: hw:numa_mem: {text!r} is not MiB")
        memory.append(int(text))
    if sum(memory) != flavor.ram_mb:
        raise FlavorError(f"{name}: hw:numa_mem.N add up to {sum(memory)}, not {flavor.ram_mb}")
    return tuple(
        GuestCell(n, cpus - dedicated, cpus & dedicated, mem)
        for n, (cpus, mem) in enumerate(zip(groups, memory, strict=True))
    )


def _per_cell(specs: Mapping[str, str], key: str, name: str) -> list[str] | None:
    """hw:numa_cpus.0, .1, ... up to the first missing one (as Nova reads them)."""
    values = []
    for cell in range(NUMA_NODES_MAX):
        if f"{key}.{cell}" not in specs:
            break
        values.append(specs[f"{key}.{cell}"])
    numbered = {f"{key}.{n}" for n in range(len(values))}
    stray = [k for k in specs if k.startswith(f"{key}.") and k not in numbered]
    if stray:
        raise FlavorError(f"{name}: {stray[0]}: cells must be numbered from 0 without gaps")
    return values or None


def _pci(specs: Mapping[str, str], aliases: Aliases, name: str) -> tuple[PciRequest, ...]:
    text = specs.get("pci_passthrough:alias")
    override = _choice(specs, "hw:pci_numa_affinity_policy", PCI_NUMA_POLICIES, name)
    if not text:
        return ()
    requests = []
    for part in text.split(","):
        alias, colon, count = part.partition(":")
        alias = alias.strip()
        if not colon or not count.strip().isdigit() or int(count) < 1:
            raise FlavorError(f"{name}: pci_passthrough:alias={text!r}: NAME:COUNT[,...]")
        if alias not in aliases:
            raise FlavorError(f"{name}: PCI alias {alias!r} is not in [pci] alias")
        policy, alias_specs = aliases[alias]
        requests.append(PciRequest(alias, int(count), alias_specs, override or policy))
    return tuple(requests)
