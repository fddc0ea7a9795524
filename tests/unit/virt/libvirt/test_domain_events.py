"""DomainLister with libvirt's domain events, on the test driver (tests/functional/
test_libvirtd_domain_events.py does the same on a real libvirtd): what a change makes it
fetch again, what an idle host costs, the sweep between audits, and a new connection."""

from __future__ import annotations

import uuid

import libvirt
import pytest

from resource_tracker.virt.disk import FileStorage
from resource_tracker.virt.libvirt import domains, events
from resource_tracker.virt.libvirt.connection import LibvirtConnection
from resource_tracker.virt.libvirt.domains import DomainLister
from resource_tracker.virt.libvirt.driver import LibvirtDriver
from tests.support.counting import CountingConnection, after_event
from tests.support.libvirtd import domain_xml

MiB = 2**20
NEVER = 10**6  # refresh_audits: no round robin within a test


def defined(name: str, memory_mib: int = 256, vcpus: int = 1) -> str:
    return domain_xml(
        name,
        [(f"/i/{name}.qcow2", "qcow2")],
        memory_mib=memory_mib,
        vcpus=vcpus,
        virt_type="test",
        extra=f"<uuid>{uuid.uuid5(uuid.NAMESPACE_DNS, name)}</uuid>",
    )


@pytest.fixture
def rw():
    """test:///default, shared by this process's connections; reset when the last closes."""
    events.start()  # for the rest of this process: libvirt's loop cannot be unregistered
    conn = libvirt.open("test:///default")
    yield conn
    conn.close()


@pytest.fixture
def host(rw):
    """The lister's connection (counting XMLDesc calls), and a lister to use on it."""
    counted = CountingConnection(rw)
    listers = []

    def lister(**options) -> DomainLister:
        listers.append(DomainLister(**options))
        return listers[-1]

    yield counted, lister
    for each in listers:
        each.disconnect(counted)  # else its subscription keeps test:///default from a reset


def audit(lister: DomainLister, conn) -> dict:
    return {domain.name: domain for domain in lister.list(conn)}


def test_an_idle_host_fetches_no_domain_xml_in_a_steady_audit(rw, host):
    conn, make = host
    for name in ("a", "b", "c"):
        rw.defineXML(defined(name))
    lister = make(refresh_audits=NEVER)

    audit(lister, conn)
    first = conn.take_reads()
    steady = [(audit(lister, conn), conn.take_reads())[1] for _ in range(3)]

    assert first == {"test": 1, "a": 1, "b": 1, "c": 1}
    assert steady == [{}, {}, {}]


def test_a_redefined_shut_off_domain_is_fetched_after_the_event_only(rw, host):
    """A shut-off domain's memory and vCPUs: its ID stays -1, so only the event tells."""
    conn, make = host
    dom = rw.defineXML(defined("off"))
    lister = make(refresh_audits=NEVER)
    audit(lister, conn)
    conn.take_reads()

    after_event(lister, dom, lambda: rw.defineXML(defined("off", memory_mib=512, vcpus=2)))
    found = audit(lister, conn)

    assert conn.take_reads() == {"off": 1}
    assert (found["off"].memory_bytes, found["off"].vcpus) == (512 * MiB, 2)


def test_defined_started_stopped_undefined_each_seen_at_the_next_audit(rw, host):
    conn, make = host
    lister = make(refresh_audits=NEVER)
    audit(lister, conn)

    dom = rw.defineXML(defined("new"))
    defined_seen = audit(lister, conn)
    after_event(lister, dom, dom.create)
    started = audit(lister, conn)
    after_event(lister, dom, dom.destroy)
    stopped = audit(lister, conn)
    after_event(lister, dom, dom.undefine)
    undefined = audit(lister, conn)

    assert not defined_seen["new"].active
    assert started["new"].active and started["new"].state == "running"
    assert not stopped["new"].active and stopped["new"].state == "shutoff"
    assert set(undefined) == {"test"}


def test_an_event_during_the_fetch_has_the_domain_fetched_again_next_audit(rw, host):
    """The XML fetched may predate a change whose event arrives while the audit runs."""
    conn, make = host
    dom = rw.defineXML(defined("racy"))
    lister = make(refresh_audits=NEVER)
    audit(lister, conn)
    after_event(lister, dom, lambda: rw.defineXML(defined("racy", memory_mib=300)))

    conn.take_reads()
    change = lambda: rw.defineXML(defined("racy", memory_mib=400))  # noqa: E731
    conn.after_fetch["racy"] = lambda: after_event(lister, dom, change)

    during = audit(lister, conn)
    after = audit(lister, conn)

    assert during["racy"].memory_bytes == 300 * MiB  # as fetched
    assert conn.take_reads() == {"racy": 2}  # fetched again, though nothing was marked since
    assert after["racy"].memory_bytes == 400 * MiB


def test_the_sweep_reads_every_domain_within_refresh_audits_and_the_audits_none(rw, host):
    """Without any event: here a change libvirt does not signal (the test driver, like QEMU,
    sends none for setMemoryFlags with AFFECT_CONFIG on a shut-off domain). The sweeps
    between audits find it; the audits read no XML."""
    conn, make = host
    names = [f"rr{i}" for i in range(10)]
    for name in names:
        rw.defineXML(defined(name))
    lister = make(refresh_audits=4)
    audit(lister, conn)
    conn.take_reads()
    rw.lookupByName("rr5").setMemoryFlags(
        128 * 1024, libvirt.VIR_DOMAIN_AFFECT_CONFIG | libvirt.VIR_DOMAIN_MEM_MAXIMUM
    )

    rounds = []
    for _ in range(4):
        swept = lister.sweep(conn)
        sweep_reads = conn.take_reads()
        found = audit(lister, conn)
        rounds.append((swept, sweep_reads, found, conn.take_reads()))

    # 11 / 4 domains a sweep on average, and all within 4 sweeps
    assert [swept.xml_reads for swept, *_ in rounds] == [
        sum(reads.values()) for _, reads, *_ in rounds
    ]
    assert all(sum(reads.values()) in (2, 3) for _, reads, *_ in rounds)
    assert set().union(*(reads for _, reads, *_ in rounds)) == {"test", *names}
    assert [swept.changed for swept, *_ in rounds if swept.changed] == [("rr5",)]
    assert rounds[-1][2]["rr5"].memory_bytes == 128 * MiB
    assert [audit_reads for *_, audit_reads in rounds] == [{}] * 4


def test_no_sweep_without_events(rw, host):
    conn, make = host
    rw.defineXML(defined("a"))
    lister = make(use_events=False, refresh_audits=1)
    audit(lister, conn)
    conn.take_reads()

    assert lister.sweep(conn).xml_reads == 0
    assert conn.take_reads() == {}


def test_without_events_every_audit_fetches_every_domain(rw, host):
    conn, make = host
    rw.defineXML(defined("a"))
    lister = make(use_events=False)

    reads = [(audit(lister, conn), conn.take_reads())[1] for _ in range(3)]

    assert reads == [{"test": 1, "a": 1}] * 3


def test_a_new_connection_drops_what_was_read(rw):
    opened = []

    def open_counted(uri):
        opened.append(CountingConnection(libvirt.openReadOnly(uri)))
        return opened[-1]

    rw.defineXML(defined("a"))
    lister = DomainLister(refresh_audits=NEVER)
    driver = LibvirtDriver(
        LibvirtConnection("test:///default", open_counted), FileStorage("/"), domains=lister
    )
    try:
        driver.get_host_resources()
        driver.get_host_resources()
        driver.close()  # as after libvirtd went away: the next audit opens a new connection
        driver.get_host_resources()
    finally:
        driver.close()

    first, second = opened
    assert first.take_reads() == {"test": 1, "a": 1}  # the second audit fetched nothing
    assert second.take_reads() == {"test": 1, "a": 1}


@pytest.fixture(params=["one call", "each domain"])
def ids_asked(request, monkeypatch):
    """The running domains' IDs from one listDomainsID call, or from each domain."""
    monkeypatch.setattr(domains, "ONE_CALL_IDS", 0 if request.param == "one call" else 10**6)


@pytest.mark.usefixtures("ids_asked")
def test_a_start_or_stop_whose_event_was_lost_is_seen_by_the_domain_id(rw, host, monkeypatch):
    monkeypatch.setattr(domains, "EVENTS", [libvirt.VIR_DOMAIN_EVENT_ID_METADATA_CHANGE])
    conn, make = host
    dom = rw.defineXML(defined("quiet"))
    lister = make(refresh_audits=NEVER)  # subscribes to no lifecycle event
    audit(lister, conn)

    dom.create()
    started = audit(lister, conn)
    dom.destroy()
    stopped = audit(lister, conn)

    assert started["quiet"].active and not stopped["quiet"].active
    assert conn.take_reads()["quiet"] == 3


@pytest.mark.usefixtures("ids_asked")
def test_a_restart_whose_events_were_lost_is_seen_by_the_new_domain_id(rw, host, monkeypatch):
    """Stopped and started between two audits: running then as now, with another ID."""
    monkeypatch.setattr(domains, "EVENTS", [libvirt.VIR_DOMAIN_EVENT_ID_METADATA_CHANGE])
    conn, make = host
    dom = rw.defineXML(defined("quiet"))
    dom.create()
    rw.defineXML(defined("idle"))  # shut off
    lister = make(refresh_audits=NEVER)  # subscribes to no lifecycle event
    audit(lister, conn)
    conn.take_reads()
    audit(lister, conn)
    assert conn.take_reads() == {}  # nothing started or stopped: no XML read

    dom.destroy()
    rw.defineXML(defined("quiet", memory_mib=512))  # what the next start runs
    dom.create()
    restarted = audit(lister, conn)

    assert conn.take_reads() == {"quiet": 1}
    assert restarted["quiet"].memory_bytes == 512 * MiB
