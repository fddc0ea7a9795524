"""Where a domain's XML puts its vCPUs and memory: pins, NUMA binding, huge pages."""

from __future__ import annotations

import logging

from resource_tracker.resources import DEFAULT_HUGE_PAGES, GuestNumaCell
from resource_tracker.virt.libvirt.domains import parse_domain

GiB, MiB = 2**30, 2**20

# As Nova writes a pinned, hugepage-backed guest of 4 vCPUs in 2 NUMA cells, emulator
# threads isolated.
PINNED = """
<domain type='kvm' id='3'>
  <name>pinned</name>
  <memory unit='KiB'>8388608</memory>
  <memoryBacking><hugepages><page size='1048576' unit='KiB' nodeset='0'/>
    <page size='2048' unit='KiB' nodeset='1'/></hugepages></memoryBacking>
  <vcpu placement='static'>4</vcpu>
  <cputune>
    <shares>4096</shares>
    <vcpupin vcpu='0' cpuset='4'/>
    <vcpupin vcpu='1' cpuset='12'/>
    <vcpupin vcpu='2' cpuset='5'/>
    <vcpupin vcpu='3' cpuset='13'/>
    <emulatorpin cpuset='6'/>
  </cputune>
  <numatune>
    <memory mode='strict' nodeset='0-1'/>
    <memnode cellid='0' mode='strict' nodeset='1'/>
    <memnode cellid='1' mode='strict' nodeset='0'/>
  </numatune>
  <cpu mode='host-model'>
    <topology sockets='2' dies='1' cores='1' threads='2'/>
    <numa>
      <cell id='0' cpus='0-1' memory='2097152' unit='KiB' memAccess='shared'/>
      <cell id='1' cpus='2-3' memory='6291456' unit='KiB'/>
    </numa>
  </cpu>
</domain>
"""


def test_pins_numa_cells_and_page_sizes_of_a_pinned_guest():
    placement = parse_domain(PINNED).placement

    assert placement.vcpu_pins == ((0, {4}), (1, {12}), (2, {5}), (3, {13}))
    assert placement.emulator_pins == {6}
    assert placement.numa == (
        GuestNumaCell(frozenset({0, 1}), 2 * GiB, frozenset({1}), GiB),
        GuestNumaCell(frozenset({2, 3}), 6 * GiB, frozenset({0}), 2 * MiB),
    )


def test_a_guest_without_numa_cells_is_one_cell_bound_by_numatune_memory():
    xml = """<domain type='kvm' id='1'><name>bound</name><memory unit='MiB'>512</memory>
      <vcpu cpuset='0-3,^1' current='2'>4</vcpu><numatune><memory nodeset='1'/></numatune>
      <memoryBacking><hugepages/></memoryBacking></domain>"""

    placement = parse_domain(xml).placement

    assert placement.numa == (
        GuestNumaCell(frozenset({0, 1}), 512 * MiB, frozenset({1}), DEFAULT_HUGE_PAGES),
    )
    # <vcpu cpuset> is how Nova keeps a guest without NUMA cells on the shared CPUs: no pin
    assert placement.vcpu_pins == ()
    assert placement.emulator_pins == set()


def test_the_cpu_thread_policy_comes_from_novas_flavor_extra_specs():
    metadata = """<metadata><nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/1.1">
      <nova:flavor name="pinned" id="7"><nova:vcpus>4</nova:vcpus><nova:extraSpecs>
        <nova:extraSpec name="hw:cpu_policy">dedicated</nova:extraSpec>
        <nova:extraSpec name="hw:cpu_thread_policy">isolate</nova:extraSpec>
      </nova:extraSpecs></nova:flavor></nova:instance></metadata>"""

    assert parse_domain(PINNED.replace("<vcpu ", metadata + "<vcpu ")).placement.thread_isolate
    prefer = metadata.replace(">isolate<", ">prefer<")
    assert not parse_domain(PINNED.replace("<vcpu ", prefer + "<vcpu ")).placement.thread_isolate
    assert not parse_domain(PINNED).placement.thread_isolate


def test_a_floating_guest_is_unbound_on_ordinary_pages():
    placement = parse_domain("<domain><name>f</name><memory>1024</memory></domain>").placement

    assert placement.numa == (GuestNumaCell(frozenset({0}), 1024 * 1024, frozenset(), None),)
    assert placement.vcpu_pins == () and placement.emulator_pins == set()


def test_a_cell_without_a_memnode_takes_the_domain_nodeset():
    xml = PINNED.replace("<memnode cellid='1' mode='strict' nodeset='0'/>", "")

    placement = parse_domain(xml).placement

    assert [cell.host_cells for cell in placement.numa] == [{1}, {0, 1}]


def test_unparsable_sets_are_left_out_with_one_warning(caplog):
    xml = (
        PINNED.replace("cpuset='12'", "cpuset='1x'")
        .replace("nodeset='1'/>", "nodeset=''/>")
        .replace("memory='6291456'", "memory='lots'")
    )

    with caplog.at_level(logging.WARNING):
        placement = parse_domain(xml).placement

    assert (1, {12}) not in placement.vcpu_pins and len(placement.vcpu_pins) == 3
    assert len(placement.numa) == 1  # the cell without usable memory is left out
    assert placement.numa[0].host_cells == {0, 1}  # the memnode's empty nodeset gave nothing
    (record,) = caplog.records
    assert record.getMessage().startswith("domain pinned: ignoring ")
