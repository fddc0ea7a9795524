"""The capabilities parser against XML of real host shapes (tests/fixtures/capabilities)."""

from __future__ import annotations

import os

import pytest

from resource_tracker.resources import GuestType, MaxPhysAddr, PagePool
from resource_tracker.virt.libvirt import capabilities

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "fixtures", "capabilities")
KiB, MiB, GiB = 2**10, 2**20, 2**30


def parsed(name: str) -> capabilities.Capabilities:
    with open(os.path.join(FIXTURES, name)) as fixture:
        return capabilities.parse(fixture.read())


def test_one_socket_without_smt():
    caps = parsed("one-socket.xml")

    (cell,) = caps.topology.cells
    assert (cell.id, cell.socket, cell.memory_bytes) == (0, 0, 16303460 * KiB)
    assert cell.cpus == cell.online_cpus == {0, 1, 2, 3}
    assert cell.siblings == ({0}, {1}, {2}, {3})
    assert cell.pages == (
        PagePool(4 * KiB, 4075865),
        PagePool(2 * MiB, 0),
        PagePool(GiB, 0),
    )
    assert caps.topology.online_cpus == {0, 1, 2, 3}
    assert (caps.cpu.arch, caps.cpu.model, caps.cpu.vendor) == (
        "x86_64",
        "Skylake-Client-IBRS",
        "Intel",
    )
    assert (caps.cpu.sockets, caps.cpu.cores, caps.cpu.threads) == (1, 4, 1)
    assert caps.cpu.features == ("acpi", "ds", "ht", "pbe", "ss", "tm", "vmx")
    assert caps.cpu.maxphysaddr is None


def test_two_sockets_with_smt_siblings_in_two_cells():
    caps = parsed("two-sockets-smt.xml")

    first, second = caps.topology.cells
    assert first.cpus == {0, 1, 2, 3, 8, 9, 10, 11}
    assert second.cpus == {4, 5, 6, 7, 12, 13, 14, 15}
    assert first.siblings == ({0, 8}, {1, 9}, {2, 10}, {3, 11})
    assert second.siblings == ({4, 12}, {5, 13}, {6, 14}, {7, 15})
    assert (first.socket, second.socket) == (0, 1)
    assert [pool.total for pool in first.pages] == [8099061, 512, 0]
    assert caps.cpu.maxphysaddr == MaxPhysAddr("emulate", 46)
    assert (caps.cpu.sockets, caps.cpu.cores, caps.cpu.threads) == (2, 4, 2)


def test_four_cells_with_2m_and_1g_pages():
    caps = parsed("four-cells-pages.xml")

    cells = caps.topology.cells
    assert [cell.id for cell in cells] == [0, 1, 2, 3]
    assert [cell.socket for cell in cells] == [0, 0, 0, 0]
    assert cells[2].cpus == {8, 9, 10, 11, 24, 25, 26, 27}
    assert cells[2].siblings == ({8, 24}, {9, 25}, {10, 26}, {11, 27})
    pages = {(cell.id, pool.size_bytes): pool.total for cell in cells for pool in cell.pages}
    assert [pages[cell, 2 * MiB] for cell in range(4)] == [1024, 2048, 3072, 4096]
    assert [pages[cell, GiB] for cell in range(4)] == [4, 4, 0, 0]
    assert caps.topology.online_cpus == set(range(32))


def test_offline_cpus_belong_to_their_cell_but_are_not_online():
    caps = parsed("offline-cpus.xml")

    first, second = caps.topology.cells
    assert (first.cpus, first.online_cpus) == ({0, 1, 2, 3}, {0, 1, 2})
    assert (second.cpus, second.online_cpus) == ({4, 5, 6, 7}, {4, 5, 7})
    assert first.siblings == ({0}, {1}, {2})
    assert caps.topology.online_cpus == {0, 1, 2, 4, 5, 7}


def test_the_online_cpus_given_decide_over_what_libvirt_9_lists():
    """libvirt 9.0 lists CPUs 3 and 6, offline, like online ones (socket 0); the online set
    virNodeGetCPUMap gives decides, and their made-up socket is not the cell's."""
    xml = parsed_text("offline-cpus-libvirt9.xml")

    listed = capabilities.parse(xml).topology
    caps = capabilities.parse(xml, frozenset({0, 1, 2, 4, 5, 7}))

    assert listed.online_cpus == set(range(8)) and listed.cells[1].socket is None
    first, second = caps.topology.cells
    assert (first.cpus, first.online_cpus) == ({0, 1, 2, 3}, {0, 1, 2})
    assert (second.cpus, second.online_cpus) == ({4, 5, 6, 7}, {4, 5, 7})
    assert first.siblings == ({0, 2}, {1}) and second.siblings == ({4}, {5, 7})
    assert (first.socket, second.socket) == (0, 1)


def test_a_cpu_listed_bare_that_is_online_now_is_online_on_its_own():
    caps = capabilities.parse(parsed_text("offline-cpus.xml"), frozenset({0, 1, 2, 3, 4, 5, 6, 7}))

    first, second = caps.topology.cells
    assert first.online_cpus == {0, 1, 2, 3} and first.siblings == ({0}, {1}, {2}, {3})
    assert (first.socket, second.socket) == (0, 1)


def parsed_text(name: str) -> str:
    with open(os.path.join(FIXTURES, name)) as fixture:
        return fixture.read()


def test_guests_are_every_arch_and_domain_type_once():
    assert parsed("two-sockets-smt.xml").topology.guests == (
        GuestType("i686", "qemu", "hvm"),
        GuestType("i686", "kvm", "hvm"),
        GuestType("x86_64", "qemu", "hvm"),
        GuestType("x86_64", "kvm", "hvm"),
    )


def test_host_cpu_element_is_kept_for_baseline_cpu():
    element = parsed("one-socket.xml").cpu.element

    assert element.startswith("<cpu>") and "<model>Skylake-Client-IBRS</model>" in element


ODD = {
    "no topology": "<capabilities><host><cpu><arch>x86_64</arch></cpu></host></capabilities>",
    "no cells": "<capabilities><host><topology><cells num='0'/></topology></host></capabilities>",
    "cell without pages": "<capabilities><host><topology><cells num='1'><cell id='0'>"
    "<memory unit='KiB'>1024</memory><cpus num='1'><cpu id='0' socket_id='0' core_id='0' "
    "siblings='0'/></cpus></cell></cells></topology></host></capabilities>",
    "cell without memory, pages without size, cpu without id": "<capabilities><host>"
    "<topology><cells num='2'><cell id='0'><cpus num='0'/></cell><cell id='1'><memory>8"
    "</memory><pages unit='KiB'>5</pages><pages unit='XB' size='4'>1</pages><cpus num='2'>"
    "<cpu/><cpu id='3' siblings='garbage'/></cpus></cell></cells></topology></host>"
    "<guest><arch name='x86_64'><domain type='kvm'/></arch></guest></capabilities>",
    "not XML": "<capabilities><host>",
}


@pytest.mark.parametrize("xml", ODD.values(), ids=ODD.keys())
def test_odd_capabilities_give_what_they_can_and_never_raise(xml):
    caps = capabilities.parse(xml)

    for cell in caps.topology.cells:
        assert cell.online_cpus <= cell.cpus
    assert caps.topology.guests == ()  # a guest without an os_type is left out


def test_what_odd_capabilities_keep():
    assert capabilities.parse(ODD["no topology"]).topology.cells == ()
    (cell,) = capabilities.parse(ODD["cell without pages"]).topology.cells
    assert (cell.pages, cell.online_cpus) == ((), {0})
    (cell,) = capabilities.parse(
        ODD["cell without memory, pages without size, cpu without id"]
    ).topology.cells
    assert (cell.id, cell.memory_bytes, cell.pages, cell.cpus, cell.siblings) == (
        1,
        8 * KiB,
        (),
        {3},
        ({3},),
    )


def test_baseline_features_leave_out_the_disabled():
    answer = (
        "<cpu mode='custom' match='exact'><model fallback='forbid'>kvm64</model>"
        "<vendor>AMD</vendor><feature policy='require' name='sse2'/>"
        "<feature policy='require' name='avx2'/><feature policy='disable' name='svm'/>"
        "<feature name='aes'/></cpu>"
    )

    assert capabilities.baseline_features(answer) == ("aes", "avx2", "sse2")
