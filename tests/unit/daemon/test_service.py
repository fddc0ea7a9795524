"""The loop's schedule, and the hub staying responsive while an audit blocks a thread."""

from __future__ import annotations

import logging
import threading
import time

import eventlet
import pytest

from resource_tracker.audit.tracker import HostPolicy, ResourceTracker
from resource_tracker.daemon import schedule, service
from resource_tracker.daemon.systemd import Notifier
from resource_tracker.exception import HypervisorUnavailable
from resource_tracker.virt.disk import FileStorage
from resource_tracker.virt.driver import ComputeDriver
from resource_tracker.virt.libvirt.connection import LibvirtConnection
from resource_tracker.virt.libvirt.driver import LibvirtDriver


@pytest.mark.parametrize(
    ("last_start", "last_end", "failures", "due"),
    [
        (100.0, 101.0, 0, 160.0),  # on time: one interval after the last start
        (100.0, 175.0, 0, 220.0),  # overran one tick: skip it, keep the rhythm
        (100.0, 300.5, 0, 340.0),  # overran several ticks
        (100.0, 101.0, 1, 160.0),  # first failure: retried next period
        (100.0, 101.0, 2, 220.0),  # then the period doubles
        (100.0, 101.0, 3, 340.0),
        (100.0, 101.0, 4, 400.0),  # ... up to five minutes
        (100.0, 101.0, 60, 400.0),
    ],
)
def test_next_start(last_start, last_end, failures, due):
    assert schedule.next_start(last_start, last_end, 60.0, failures) == due


def test_backoff_never_shortens_a_long_interval():
    assert schedule.next_start(0.0, 1.0, 900.0, 5) == 900.0


class BlockingDriver(ComputeDriver):
    """A driver whose call hangs until released: a stuck libvirt call, caused on purpose."""

    def __init__(self, real: ComputeDriver):
        self.real = real
        self.entered = threading.Event()
        self.release = threading.Event()

    def get_host_resources(self):
        self.entered.set()
        self.release.wait(timeout=30)
        return self.real.get_host_resources()


def test_hub_keeps_ticking_while_an_audit_blocks(mixed_host, sqlite_database):
    database = sqlite_database
    real = LibvirtDriver(LibvirtConnection(mixed_host.uri), FileStorage(str(mixed_host.instances)))
    driver = BlockingDriver(real)
    tracker = ResourceTracker("compute-1", driver, database)
    settings = schedule.Settings(
        interval_s=3600, fuzzy_delay_s=0, policy=HostPolicy(), debug=False
    )
    loop = service.Service(tracker, settings, reload_settings=lambda: settings)
    ticks = []

    def ticker():
        while True:
            ticks.append(time.monotonic())
            eventlet.sleep(0.01)

    running = eventlet.spawn(loop.run)
    ticking = eventlet.spawn(ticker)
    while not driver.entered.is_set():
        eventlet.sleep(0.01)
    blocked_since = time.monotonic()
    eventlet.sleep(0.5)
    ticks_while_blocked = [t for t in ticks if t >= blocked_since]
    driver.release.set()
    while not database.compute_nodes("compute-1"):
        eventlet.sleep(0.01)
    loop.stop()

    assert running.wait() == 0
    ticking.kill()
    real.close()
    # 0.5 s of 10 ms ticks: the hub ran them while the audit's thread was blocked (a blocked
    # hub runs one at most; a loaded machine was seen running fewer than 25 of the 50)
    assert len(ticks_while_blocked) >= 10


class SlowSweepDriver(BlockingDriver):
    """Audits as `real` does; its sweep between audits waits until released."""

    def get_host_resources(self):
        return self.real.get_host_resources()

    def sweep(self):
        self.entered.set()
        self.release.wait(timeout=30)
        return self.real.sweep()


def test_a_stop_during_the_sweep_lets_it_finish(mixed_host, sqlite_database, monkeypatch):
    """The sweep after an audit takes milliseconds: a stop waits for it, as for a write,
    rather than leave its thread behind (the process would then exit without the loop)."""
    exits = []
    monkeypatch.setattr(service.os, "_exit", exits.append)
    real = LibvirtDriver(LibvirtConnection(mixed_host.uri), FileStorage(str(mixed_host.instances)))
    driver = SlowSweepDriver(real)
    tracker = ResourceTracker("compute-1", driver, sqlite_database)
    settings = schedule.Settings(
        interval_s=3600, fuzzy_delay_s=0, policy=HostPolicy(), debug=False
    )
    loop = service.Service(tracker, settings, reload_settings=lambda: settings)
    running = eventlet.spawn(loop.run)
    while not driver.entered.is_set():
        eventlet.sleep(0.01)

    loop.stop()
    eventlet.sleep(0.2)
    driver.release.set()

    assert running.wait() == 0
    real.close()
    assert exits == []


class StuckDriver(ComputeDriver):
    """A driver whose call does not return until released: a hung libvirt call, on purpose."""

    def __init__(self):
        self.calls = 0
        self.release = threading.Event()

    def get_host_resources(self):
        self.calls += 1
        self.release.wait(timeout=30)
        raise HypervisorUnavailable("libvirt answered at last, with an error")

    def waiting_on(self) -> str:
        return "libvirt XMLDesc of domain stuck"


def test_a_stuck_call_is_abandoned_and_never_started_twice(sqlite_database, caplog):
    database = sqlite_database
    driver = StuckDriver()
    tracker = ResourceTracker("compute-1", driver, database)
    settings = schedule.Settings(
        interval_s=0.05, fuzzy_delay_s=0, policy=HostPolicy(), debug=False
    )
    notifier = Notifier({"WATCHDOG_USEC": "400000"})  # calls are abandoned after 0.2 s
    loop = service.Service(tracker, settings, lambda: settings, notifier=notifier)
    caplog.set_level(logging.DEBUG, logger="resource_tracker.daemon.service")

    running = eventlet.spawn(loop.run)
    eventlet.sleep(1.2)
    failed_while_stuck = [r for r in caplog.records if "audit failed" in r.getMessage()]
    calls_while_stuck = driver.calls
    driver.release.set()
    for _ in range(300):
        if driver.calls >= 2:
            break
        eventlet.sleep(0.01)
    loop.stop()
    assert running.wait() == 0
    driver.release.set()

    # backoff: attempts at 0, 0.05, 0.15, 0.35, 0.75 s; the call started once only
    assert len(failed_while_stuck) >= 4 and calls_while_stuck == 1
    first, *again = failed_while_stuck
    assert first.levelno == logging.WARNING
    assert "measurement not finished after 0.2 s, waiting on libvirt XMLDesc of domain stuck" in (
        first.getMessage()
    )
    assert all(r.levelno == logging.DEBUG for r in again)  # one warning for the run of them
    assert any(
        "the abandoned measurement returned after" in r.getMessage() for r in caplog.records
    )
    assert driver.calls >= 2  # once it returned, the next audit called again
