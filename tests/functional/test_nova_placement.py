"""Our provider against Nova 34's own code (tests/support/nova.py): the CPU feature traits
(nova.virt.libvirt.utils.cpu_features_to_traits) and the allocation ratio rule
(nova.virt.driver.ComputeDriver._get_allocation_ratios, with [DEFAULT] *_allocation_ratio
and initial_*_allocation_ratio set in Nova's CONF).

update_provider_tree itself is not driven: it needs a LibvirtDriver whose Host reads domain
capabilities and checks QEMU's version, which libvirt's test driver does not have (its
hypervisor version 2.0.0 is below Nova's minimum); its inventory arithmetic (total, reserved
in ceil GB, max_unit = total, a class with total 0 left out) is compared in
tests/unit/audit/test_provider.py against the formulas read from its source."""

from __future__ import annotations

import pytest

from resource_tracker.audit.provider import CPU_FEATURE_TRAITS, CPU_TRAITS
from resource_tracker.placement.records import Inventory, ProviderReport
from resource_tracker.placement.sync import wanted_inventories
from tests.support import nova

TRAITS = """
import json, sys
from nova.virt.libvirt import utils
print(json.dumps([sorted(t for t, on in utils.cpu_features_to_traits(set(features)).items() if on)
                  for features in json.load(sys.stdin)]))
"""

RATIOS = """
import json, sys
from nova import conf
from nova.virt import driver
CONF = conf.CONF
CONF([], project="nova", default_config_files=[])
answers = []
for case in json.load(sys.stdin):
    for kind in ("cpu", "ram", "disk"):
        CONF.set_override(f"{kind}_allocation_ratio", case["conf"].get(kind))
        CONF.set_override(f"initial_{kind}_allocation_ratio", case["initial"][kind])
    answers.append(driver.ComputeDriver._get_allocation_ratios(case["inventory"]))
print(json.dumps(answers))
"""

FEATURE_SETS = [
    sorted(CPU_FEATURE_TRAITS),
    ["sse", "sse2", "svm", "vmx", "avx512-vpopcntdq", "sha-ni", "not-a-feature"],
    [],
]


def test_cpu_feature_traits_are_novas():

    ours = [sorted(CPU_TRAITS & _traits_of(features)) for features in FEATURE_SETS]
    assert nova.run(TRAITS, FEATURE_SETS) == ours


def _traits_of(features) -> set[str]:
    return {t for f in features for t in CPU_FEATURE_TRAITS.get(f, ())}


CLASSES = {"cpu": "VCPU", "ram": "MEMORY_MB", "disk": "DISK_GB"}


@pytest.mark.parametrize(
    "conf, placed",
    [
        ({}, {}),  # a new provider: the initial ratios
        ({}, {"VCPU": 16.0, "MEMORY_MB": 1.5}),  # an operator's ratios in Placement kept
        ({"cpu": 2.0}, {"VCPU": 16.0, "DISK_GB": 3.0}),  # ours configured: it wins
    ],
)
def test_allocation_ratios_follow_novas_rule(conf, placed):
    initial = {"cpu": 4.0, "ram": 1.0, "disk": 1.0}
    inventory = {rc: {"allocation_ratio": ratio} for rc, ratio in placed.items()}
    case = {"conf": conf, "initial": initial, "inventory": inventory}
    novas = nova.run(RATIOS, [case])[0]

    report = ProviderReport(
        uuid="u",
        name="n",
        inventories=tuple(
            Inventory(rc, 10, 0, 1, 10, 1, conf.get(kind, initial[kind]))
            for kind, rc in CLASSES.items()
        ),
        traits=frozenset(),
        owned_traits=frozenset(),
        explicit_ratios=frozenset(CLASSES[kind] for kind in conf),
    )
    ours = wanted_inventories(report, inventory)
    assert {rc: fields["allocation_ratio"] for rc, fields in ours.items()} == novas
