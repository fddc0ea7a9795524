"""The JSON columns in the formats Nova's objects read, serialized deterministically.

- numa_topology: a versioned primitive of `NUMATopology` 1.2 holding `NUMACell` 1.5 (cpuset,
  pcpuset, siblings, memory and memory_usage in MiB, cpu_usage, pinned_cpus, mempages,
  network_metadata, socket) and `NUMAPagesTopology` 1.1 (size_kb, total, used, reserved), as
  Nova master writes it (`NUMATopology._to_json()`); `objects.NUMATopology.obj_from_db_obj`
  loads it. NULL where libvirt reports no cells, as Nova stores it then.
- supported_instances: `[[arch, hypervisor_type, vm_mode], ...]` from the capabilities'
  guests, canonicalized as Nova's fields do; kinds Nova does not know are left out.
- stats: the counts Nova's filters read (`num_instances`, `num_vm_<vm_state>`,
  `io_workload`), ints (Nova's ComputeNode turns them into strings when it loads them).

Sets are sorted lists; keys are sorted; equal inputs give equal strings, so write-on-change
holds.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from resource_tracker.resources import GuestType
from resource_tracker.shape import CellUsage

MiB = 2**20
KiB = 2**10

NUMA_TOPOLOGY_VERSION = "1.2"
NUMA_CELL_VERSION = "1.5"
NUMA_PAGES_VERSION = "1.1"
NETWORK_METADATA_VERSION = "1.0"

# nova.objects.fields: Architecture.ALL, HVType.ALL, VMMode.ALL and their canonicalize()
ARCHITECTURES = frozenset((
    "alpha", "armv6", "armv7l", "armv7b", "aarch64", "cris", "i686", "ia64", "lm32", "m68k",
    "microblaze", "microblazeel", "mips", "mipsel", "mips64", "mips64el", "openrisc", "parisc",
    "parisc64", "ppc", "ppcle", "ppc64", "ppc64le", "ppcemb", "s390", "s390x", "sh4", "sh4eb",
    "sparc", "sparc64", "unicore32", "x86_64", "xtensa", "xtensaeb",
))  # fmt: skip
ARCHITECTURE_ALIASES = {
    "i386": "i686", "i486": "i686", "i586": "i686", "x86_32": "i686", "x86_32p": "i686",
    "amd64": "x86_64",
}  # fmt: skip
HYPERVISOR_TYPES = frozenset((
    "baremetal", "bhyve", "docker", "fake", "hyperv", "ironic", "kqemu", "kvm", "lxc", "lxd",
    "openvz", "parallels", "phyp", "qemu", "test", "uml", "vbox", "vz", "vmware", "xen", "zvm",
    "prsm",
))  # fmt: skip
VM_MODES = frozenset({"hvm", "xen", "uml", "exe"})
VM_MODE_ALIASES = {"pv": "xen", "hv": "hvm", "baremetal": "hvm"}

# libvirt domain state -> Nova vm_state, for num_vm_<vm_state>
VM_STATES = {
    "running": "active",
    "blocked": "active",
    "shutdown": "active",  # shutting down: still running
    "paused": "paused",
    "shutoff": "stopped",
    "crashed": "error",
    "pmsuspended": "suspended",
}


def dumps(value) -> str:
    return json.dumps(value, sort_keys=True)


def nova_object(name: str, version: str, data: dict) -> dict:
    return {
        "nova_object.name": name,
        "nova_object.namespace": "nova",
        "nova_object.version": version,
        "nova_object.data": data,
        "nova_object.changes": sorted(data),
    }


def numa_topology(cells: Iterable[CellUsage]) -> str | None:
    cells = list(cells)
    if not cells:
        return None
    return dumps(
        nova_object("NUMATopology", NUMA_TOPOLOGY_VERSION, {"cells": [_cell(c) for c in cells]})
    )


def _cell(cell: CellUsage) -> dict:
    return nova_object(
        "NUMACell",
        NUMA_CELL_VERSION,
        {
            "id": cell.id,
            "cpuset": sorted(cell.shared_cpus),
            "pcpuset": sorted(cell.dedicated_cpus),
            "memory": cell.memory_bytes // MiB,
            "cpu_usage": cell.vcpus_used,
            "memory_usage": cell.memory_used_bytes // MiB,
            "pinned_cpus": sorted(cell.pinned_cpus),
            "siblings": [sorted(group) for group in cell.siblings],
            "mempages": [
                nova_object(
                    "NUMAPagesTopology",
                    NUMA_PAGES_VERSION,
                    {
                        "size_kb": pages.size_bytes // KiB,
                        "total": pages.total,
                        "used": pages.used,
                        "reserved": pages.reserved,
                    },
                )
                for pages in cell.pages
            ],
            # physical networks are Neutron's to say; the tracker knows none
            "network_metadata": nova_object(
                "NetworkMetadata", NETWORK_METADATA_VERSION, {"physnets": [], "tunneled": False}
            ),
            "socket": cell.socket,
        },
    )


def supported_instances(guests: Iterable[GuestType]) -> str:
    kinds = {}
    for guest in guests:
        arch = guest.arch.lower()
        arch = ARCHITECTURE_ALIASES.get(arch, arch)
        hv_type = guest.domain_type.lower()
        hv_type = "xen" if hv_type == "xapi" else hv_type
        vm_mode = guest.os_type.lower()
        vm_mode = VM_MODE_ALIASES.get(vm_mode, vm_mode)
        if arch in ARCHITECTURES and hv_type in HYPERVISOR_TYPES and vm_mode in VM_MODES:
            kinds[(arch, hv_type, vm_mode)] = None
    return json.dumps([list(kind) for kind in kinds])


def stats(domain_states: Mapping[str, int], busy: int) -> str:
    counts = {"num_instances": sum(domain_states.values()), "io_workload": busy}
    for state, count in domain_states.items():
        vm_state = VM_STATES.get(state)
        if vm_state:
            key = f"num_vm_{vm_state}"
            counts[key] = counts.get(key, 0) + count
    return dumps(counts)
