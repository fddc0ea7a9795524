"""Drift between allocations and domains, matched by uuid."""

from resource_tracker.audit.drift import ORPHAN, OVER, UNALLOCATED, DriftWatch, drift
from resource_tracker.placement.records import Allocation
from resource_tracker.resources import GuestSize

MiB = 2**20
PINNED = GuestSize("a", "pinned", 4, 2048 * MiB)
SMALL = GuestSize("b", "small", 1, 512 * MiB)


def test_pinned_cpus_count_and_each_kind_is_found():
    allocations = [
        Allocation("a", (("MEMORY_MB", 2048), ("PCPU", 4))),  # dedicated CPUs: not over
        Allocation("b", (("MEMORY_MB", 256), ("VCPU", 1))),  # memory over
        Allocation("z", (("VCPU", 2),)),
    ]
    found = {(d.kind, d.consumer) for d in drift(allocations, [PINNED, SMALL])}
    assert found == {(OVER, "b"), (ORPHAN, "z")}
    assert {(d.kind, d.consumer) for d in drift([], [SMALL])} == {(UNALLOCATED, "b")}


def test_compared_when_the_domains_change_and_said_once(caplog):
    watch = DriftWatch()
    assert watch.due([SMALL])
    watch.compared([], [SMALL])
    assert not watch.due([SMALL])
    assert watch.due([SMALL, PINNED])
    assert watch.compared(None, [SMALL, PINNED]) is None  # not read: not known
    assert watch.due([SMALL, PINNED])  # so asked again
    watch.compared([], [SMALL, PINNED])
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "Placement drift: domain without allocation b: domain small: 1 vCPUs, 512 MiB",
        "Placement drift: domain without allocation a: domain pinned: 4 vCPUs, 2048 MiB",
    ]
