"""The Nova flavors of a host's domains, as the last-audit record keeps them."""

from __future__ import annotations

import dataclasses
import json

import pytest

from resource_tracker.audit import flavors
from resource_tracker.audit.flavors import FlavorSeen
from resource_tracker.audit.last_audit import LastAuditFile, Unreadable
from resource_tracker.resources import NovaDomain, NovaFlavor, NovaInstance
from tests.unit.audit.test_last_audit import RESOURCES

SMALL = NovaFlavor("m1.small", vcpus=1, memory_mb=2048, disk_gb=20, swap_mb=0, ephemeral_gb=0)


def host(*flavors: NovaFlavor | None, others: int = 0):
    domains = tuple(
        NovaDomain(f"instance-{n}", True, NovaInstance(flavor=flavor))
        for n, flavor in enumerate(flavors)
    )
    return dataclasses.replace(
        RESOURCES, nova_domains=domains, domain_states=(("running", len(domains) + others),)
    )


def test_each_flavor_once_by_name_with_its_domains():
    large = NovaFlavor("m1.large", 4, 8192, 40, swap_mb=1536, ephemeral_gb=10)

    seen, apart = flavors.seen(host(SMALL, large, SMALL, SMALL, others=2))

    assert seen == (
        FlavorSeen(4, 8192, 40, 10, 1536, name="m1.large", domains=1),
        FlavorSeen(1, 2048, 20, 0, 0, name="m1.small", domains=3),
    )
    assert apart == 2


def test_swap_counts_in_disk_gb_rounded_up_as_nova_asks_placement():
    """nova/scheduler/utils.py: DISK_GB = root + ephemeral + convert_mb_to_ceil_gb(swap)."""
    assert FlavorSeen(1, 512, 20, 10, 1, name="a").placement_disk_gb == 31
    assert FlavorSeen(1, 512, 20, 10, 1024, name="a").placement_disk_gb == 31
    assert FlavorSeen(1, 512, 20, 10, 1025, name="a").placement_disk_gb == 32
    assert FlavorSeen(1, 512, 0, 0, 0, name="a").placement_disk_gb == 0


def test_a_flavor_without_a_name_or_a_size_counts_apart():
    nameless = dataclasses.replace(SMALL, name=None)
    sizeless = dataclasses.replace(SMALL, name="m1.odd", disk_gb=None)

    seen, apart = flavors.seen(host(SMALL, nameless, sizeless, None))

    assert [flavor.name for flavor in seen] == ["m1.small"]
    assert apart == 3


def test_one_name_with_two_sizes_keeps_those_of_most_domains_then_the_larger():
    recreated = dataclasses.replace(SMALL, memory_mb=4096)

    (most,), _ = flavors.seen(host(SMALL, recreated, SMALL))
    (tie,), _ = flavors.seen(host(SMALL, recreated))

    assert (most.memory_mb, most.domains) == (2048, 3)
    assert (tie.memory_mb, tie.domains) == (4096, 2)


def test_the_record_keeps_them(tmp_path):
    record = LastAuditFile(str(tmp_path / "last-audit.json"))

    record.write("compute-1", host(SMALL, SMALL, others=1))
    read = record.read("compute-1")

    assert read.flavors == (FlavorSeen(1, 2048, 20, 0, 0, name="m1.small", domains=2),)
    assert read.domains_without_flavor == 1


def test_a_record_from_before_flavors_reads_as_not_recorded(tmp_path):
    path = tmp_path / "last-audit.json"
    LastAuditFile(str(path)).write("compute-1", host(SMALL))
    older = json.loads(path.read_text())
    del older["flavors"], older["domains_without_flavor"]
    path.write_text(json.dumps(older))

    read = LastAuditFile(str(path)).read("compute-1")

    assert (read.flavors, read.domains_without_flavor) == (None, 0)


def test_a_flavor_that_is_not_one_makes_the_record_unreadable(tmp_path):
    path = tmp_path / "last-audit.json"
    LastAuditFile(str(path)).write("compute-1", host(SMALL))
    for broken in (
        [{"name": "m1.small"}],
        [{**json.loads(path.read_text())["flavors"][0], "vcpus": "lots"}],
        3,
    ):
        written = json.loads(path.read_text())
        written["flavors"] = broken
        path.write_text(json.dumps(written))
        with pytest.raises(Unreadable, match="not a last-audit record"):
            LastAuditFile(str(path)).read("compute-1")
