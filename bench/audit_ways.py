"""Four ways to audit the same 1,000 domains, side by side, on two drivers.

For libvirt's test driver (a host file) and for a private real libvirtd with QEMU (session
mode, tests/support/libvirtd.py; 1,000 defined domains, shut off), each domain with its own
qcow2 made by qemu-img, interleaved in each run:

- naive: the seed's way, XMLDesc of every domain and `qemu-img info` of every disk;
- today: our driver's audit with a DomainLister without events (XMLDesc of every domain
  every audit, parsing only what changed);
- events: our driver's audit with domain events (XMLDesc only of domains an event named),
  with the sweep the daemon makes after it (the round robin's share of XMLDesc,
  [libvirt] domain_cache_refresh_audits at its default);
- events only: the same without the round robin (what the audit alone costs);
- floor: the least an audit must do: one getAllDomainStats(STATE) and one stat per disk.

Then the memory the event-driven cache keeps per domain (tracemalloc). Run by bench/audit.py.
"""

from __future__ import annotations

import contextlib
import gc
import os
import statistics
import time
import tracemalloc

import libvirt

from resource_tracker.units import KiB
from resource_tracker.virt.disk import FileStorage
from resource_tracker.virt.libvirt import events
from resource_tracker.virt.libvirt.connection import LibvirtConnection
from resource_tracker.virt.libvirt.device_lister import DeviceLister
from resource_tracker.virt.libvirt.domains import DomainLister
from resource_tracker.virt.libvirt.driver import LibvirtDriver

WAYS = ("naive", "today", "events", "events_only", "floor")
NO_ROUND_ROBIN = 10**9  # refresh_audits of the "events only" driver
STEADY_AUDITS = 3  # timed audits of each of our ways per run (the naive way: one)


def compare(name: str, uri: str, instances: str, disks: list[str], runs: int, naive) -> dict:
    """Medians of each way, each on its own connection to `uri` opened with events running
    (libvirt-python takes one callback per event and connection: a second DomainLister or
    DeviceLister on a connection would go without events)."""
    events.start()
    conns = {way: libvirt.openReadOnly(uri) for way in WAYS}
    try:
        drivers = {
            "today": _driver(conns["today"], instances, DomainLister(use_events=False)),
            "events": _driver(conns["events"], instances, DomainLister()),
            "events_only": _driver(
                conns["events_only"], instances, DomainLister(refresh_audits=NO_ROUND_ROBIN)
            ),
        }
        for driver in drivers.values():
            driver.get_host_resources()  # the first audit, which reads everything
            driver.get_host_resources()
        times = {way: [] for way in WAYS}
        for run in range(runs):
            times["naive"].append(_time(lambda: naive(conns["naive"], 1)))
            for way, driver in drivers.items():
                times[way] += [_time(_audit_of(driver)) for _ in range(STEADY_AUDITS)]
            floor = [_time(lambda: _floor(conns["floor"], disks)) for _ in range(STEADY_AUDITS)]
            times["floor"] += floor
            print(f"  {name} run {run + 1}: " + ", ".join(
                f"{way} {times[way][-1] * 1e3:.1f} ms" for way in WAYS), flush=True)  # fmt: skip
        medians = {way: statistics.median(values) for way, values in times.items()}
        for driver in drivers.values():
            driver.close()
        medians["bytes_per_domain"] = _cache_bytes_per_domain(conns["naive"], len(disks))
        return medians
    finally:
        for conn in conns.values():
            _close_quietly(conn)


def _driver(conn, instances: str, domains: DomainLister) -> LibvirtDriver:
    connection = LibvirtConnection("bench", lambda _uri: conn)
    return LibvirtDriver(
        connection, FileStorage(instances), devices=DeviceLister(), domains=domains
    )


def _floor(conn: libvirt.virConnect, disks: list[str]) -> int:
    listed = conn.getAllDomainStats(libvirt.VIR_DOMAIN_STATS_STATE)
    return len(listed) + sum(os.stat(path).st_blocks for path in disks)


def _audit_of(driver: LibvirtDriver):
    """One audit, with the sweep the daemon makes after a periodic one (which reads the
    round robin's share of domain XML; nothing without events or without a round robin)."""

    def audit() -> None:
        driver.get_host_resources()
        driver.sweep()

    return audit


def _time(call) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def _cache_bytes_per_domain(conn: libvirt.virConnect, count: int) -> float:
    """What a DomainLister keeps after an audit (XML, parsed Domain, bookkeeping), per domain."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    lister = DomainLister()
    lister.list(conn)
    gc.collect()
    kept = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    lister.disconnect(conn)
    return kept / count


def _close_quietly(conn: libvirt.virConnect) -> None:
    with contextlib.suppress(libvirt.libvirtError):
        conn.close()


def real_libvirtd(disks: list[str], domain_xml_of):
    """A private libvirtd with QEMU and a shut-off domain per disk (defining one does not
    open its disk, so the images need not be the daemon's)."""
    from tests.support.libvirtd import Libvirtd

    daemon = Libvirtd()
    daemon.start()
    rw = daemon.connect()
    try:
        for index, path in enumerate(disks):
            rw.defineXML(domain_xml_of(index, path))
    finally:
        rw.close()
    return daemon


def print_table(rows: dict[str, dict], count: int, runs: int) -> None:
    print(f"\n{count:,} domains, one qcow2 each; medians of {runs} runs ({STEADY_AUDITS} audits "
          f"a run for ours and the floor); ratio = that way / the floor")  # fmt: skip
    print("| driver | naive | today | events | events only | floor | naive / events | today "
          "/ floor | events / floor | events only / floor | cache per domain |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, row in rows.items():
        print(
            f"| {name} | {row['naive'] * 1e3:,.0f} ms | {row['today'] * 1e3:.1f} ms "
            f"| {row['events'] * 1e3:.1f} ms | {row['events_only'] * 1e3:.1f} ms "
            f"| {row['floor'] * 1e3:.1f} ms | {row['naive'] / row['events']:,.0f}x "
            f"| {row['today'] / row['floor']:.1f}x | {row['events'] / row['floor']:.1f}x "
            f"| {row['events_only'] / row['floor']:.1f}x "
            f"| {row['bytes_per_domain'] / KiB:.1f} KiB |"
        )
