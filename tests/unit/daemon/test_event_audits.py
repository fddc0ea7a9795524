"""libvirt's events start audits, on libvirt's test driver, in the loop itself: a change is
in the row within seconds, a storm of events costs a bounded number of audits, and a change
whose event never reaches the loop is in the row after the next periodic audit."""

from __future__ import annotations

import threading
import time

import eventlet
import libvirt
import pytest

from resource_tracker.audit.tracker import HostPolicy, ResourceTracker
from resource_tracker.daemon import schedule, service
from resource_tracker.daemon.doorbell import Doorbell
from resource_tracker.daemon.metrics import Metrics
from resource_tracker.virt.disk import FileStorage
from resource_tracker.virt.libvirt import events
from resource_tracker.virt.libvirt.connection import LibvirtConnection
from resource_tracker.virt.libvirt.domains import DomainLister
from resource_tracker.virt.libvirt.driver import LibvirtDriver

URI = "test:///default"  # shared by every connection of this process


def domain(name: str) -> str:
    return (
        f"<domain type='test'><name>{name}</name><memory>65536</memory><vcpu>1</vcpu>"
        "<os><type>hvm</type></os></domain>"
    )


class Loop:
    """The daemon's loop on the test driver, in this process, and a connection to change it."""

    def __init__(
        self, database, tmp_path, interval_s: float, ring: bool = True, refresh_audits: int = 60
    ):
        events.start()
        self.database = database
        self.doorbell = Doorbell()
        self.metrics = Metrics()
        lister = DomainLister(
            on_event=self.doorbell.ring if ring else None, refresh_audits=refresh_audits
        )
        self.driver = LibvirtDriver(
            LibvirtConnection(URI, libvirt.openReadOnly),
            FileStorage(str(tmp_path)),
            domains=lister,
        )
        tracker = ResourceTracker("compute-1", self.driver, database)
        settings = schedule.Settings(interval_s, fuzzy_delay_s=0, policy=HostPolicy(), debug=False)
        self.service = service.Service(
            tracker, settings, lambda: settings, metrics=self.metrics, doorbell=self.doorbell
        )
        self.rw = libvirt.open(URI)
        self.made: list[str] = []
        self.running = eventlet.spawn(self.service.run)
        self.wait_for(lambda: self.row() is not None)

    def row(self):
        rows = self.database.compute_nodes("compute-1")
        return rows[0] if rows else None

    def wait_for(self, condition, timeout_s: float = 10) -> float:
        started = time.monotonic()
        while not condition():
            assert time.monotonic() - started < timeout_s, "timed out"
            eventlet.sleep(0.02)
        return time.monotonic() - started

    def audits(self, trigger: str) -> float:
        value = self.metrics.registry.get_sample_value(
            "resource_tracker_audits_total", {"trigger": trigger}
        )
        return value or 0.0

    def start(self, name: str) -> None:
        self.made.append(name)
        self.rw.defineXML(domain(name)).create()

    def close(self) -> None:
        self.service.stop()
        assert self.running.wait() == 0
        for name in self.made:
            dom = self.rw.lookupByName(name)
            if dom.isActive():
                dom.destroy()
            dom.undefine()
        self.rw.close()
        self.driver.close()
        self.doorbell.close()


@pytest.fixture
def loop(sqlite_database, tmp_path):
    loop = Loop(sqlite_database, tmp_path, interval_s=3600)
    yield loop
    loop.close()


def test_a_started_domain_is_in_the_row_within_seconds(loop):
    before = loop.row().running_vms

    loop.start("event-1")
    took = loop.wait_for(lambda: loop.row().running_vms == before + 1)
    loop.wait_for(lambda: loop.audits("event") >= 1)  # counted once the loop hears back

    assert took < 3  # the period is an hour
    lifecycle = loop.metrics.registry.get_sample_value(
        "resource_tracker_libvirt_events_total", {"kind": "domain_lifecycle"}
    )
    assert lifecycle >= 2  # defined, started
    staleness = loop.metrics.registry.get_sample_value(
        "resource_tracker_event_staleness_seconds_count"
    )
    assert staleness >= 1


def test_a_storm_of_events_costs_a_bounded_number_of_audits(loop):
    before = loop.row().running_vms
    names = [f"storm-{n}" for n in range(60)]

    def storm() -> None:
        for name in names:
            loop.start(name)
            time.sleep(0.03)  # ~2 s of events, 120 of them

    started = time.monotonic()
    thread = threading.Thread(target=storm)
    thread.start()
    loop.wait_for(lambda: not thread.is_alive())
    lasted = time.monotonic() - started
    loop.wait_for(lambda: loop.row().running_vms == before + len(names))
    loop.wait_for(lambda: loop.audits("event") >= 1)

    # one audit at most every EVENT_GAP_S while the storm lasted, then the one after it
    assert 1 <= loop.audits("event") <= lasted / schedule.EVENT_GAP_S + 2


def test_a_change_whose_event_is_lost_is_in_the_row_after_the_next_period(
    sqlite_database, tmp_path
):
    loop = Loop(sqlite_database, tmp_path, interval_s=1, ring=False)
    try:
        before = loop.row().running_vms
        loop.start("unheard")
        loop.wait_for(lambda: loop.row().running_vms == before + 1, timeout_s=3)
        loop.wait_for(lambda: loop.audits("period") >= 2)

        assert loop.audits("event") == 0
    finally:
        loop.close()


def test_a_change_libvirt_sends_no_event_for_is_found_by_the_sweep_and_audited_soon(
    sqlite_database, tmp_path
):
    """The sweep after a periodic audit reads every domain here (refresh_audits 1): a
    shut-off domain's memory set with AFFECT_CONFIG (no event) calls for an audit."""
    loop = Loop(sqlite_database, tmp_path, interval_s=2, refresh_audits=1)
    try:
        loop.made.append("quiet")
        loop.rw.defineXML(domain("quiet"))
        before = loop.row().memory_mb_used
        loop.wait_for(lambda: loop.row().memory_mb_used == before + 64)
        loop.wait_for(lambda: loop.audits("period") >= 2)
        event_audits = loop.audits("event")
        swept = loop.metrics.registry.get_sample_value("resource_tracker_domain_xml_reads_total")

        loop.rw.lookupByName("quiet").setMemoryFlags(
            128 * 1024, libvirt.VIR_DOMAIN_AFFECT_CONFIG | libvirt.VIR_DOMAIN_MEM_MAXIMUM
        )
        loop.wait_for(lambda: loop.row().memory_mb_used == before + 128)
        loop.wait_for(lambda: loop.audits("event") > event_audits)

        reads = loop.metrics.registry.get_sample_value("resource_tracker_domain_xml_reads_total")
        assert reads > swept  # the sweeps' reads are counted
    finally:
        loop.close()
