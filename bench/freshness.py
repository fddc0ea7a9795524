"""How soon the row follows the host: the daemon on a private real libvirtd with QEMU.

The daemon (a real process, [DEFAULT] update_resources_interval = 3600, so only libvirt's
events can bring a change in time) audits a private libvirtd (tests/support/libvirtd.py)
into an SQLite row. For each change (define, start, attach a disk live, stop, undefine a
domain of its own) the bench times from the libvirt call returning to the row showing it
(polled every 5 ms), with a random pause of 0 to 1.5 s between changes; p50 and p95 over
--cycles x 5 changes. Then the same with --domains more domains defined (shut off, each with
its own qcow2). Then a storm: --storm domain starts (each destroyed at once; four domains
at a time) as fast as libvirt takes them, and the audits they caused. From the
repository root (root, for the private libvirtd):

    .venv/bin/python -m bench.freshness                     # 10 cycles, 1,000 domains, 200 starts
    .venv/bin/python -m bench.freshness --domains 0 --storm 50
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sqlite3
import statistics
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path

import libvirt

from bench import audit as bench_audit
from bench import daemon_run
from tests.support import images
from tests.support.libvirtd import Libvirtd, domain_xml

SCSI = "<controller type='scsi' model='virtio-scsi'/>"
STORM_THREADS = 4  # domains started at once in the storm (one QEMU each at a time)


def main() -> int:
    args = _arguments()
    with tempfile.TemporaryDirectory(prefix="rt-fresh-") as directory:
        root = Path(directory)
        libvirtd = Libvirtd()
        libvirtd.start()
        run = None
        try:
            run = daemon_run.start(root, libvirtd.uri, root / "instances", interval_s=3600)
            rw = libvirtd.connect()
            rows = {"0 other domains": _changes(rw, libvirtd, run, args.cycles, "a")}
            if args.domains:
                print(f"defining {args.domains} shut-off domains ...", flush=True)
                disks = bench_audit._make_images(root / "many", args.domains)
                for index, path in enumerate(disks):
                    rw.defineXML(bench_audit._real_domain(index, path))
                rows[f"{args.domains:,} other domains"] = _changes(
                    rw, libvirtd, run, args.cycles, "b"
                )
            storm = _storm(rw, run, args.storm) if args.storm else None
            rw.close()
        finally:
            if run is not None:
                run.stop()
            libvirtd.shutdown()
    _print(rows, storm, args)
    return 0


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=10, help="5 changes each")
    parser.add_argument("--domains", type=int, default=1000, help="then with this many defined")
    parser.add_argument("--storm", type=int, default=200, help="domain starts in the storm")
    return parser.parse_args()


def _row(run: daemon_run.Run) -> dict:
    with closing(sqlite3.connect(run.database)) as db:
        found = db.execute(
            "SELECT stats, disk_overcommit_bytes FROM compute_nodes WHERE deleted = 0"
        ).fetchone()
    if found is None:
        return {}
    return {**json.loads(found[0]), "overcommit": found[1]}


def _fresh(run: daemon_run.Run, change, shows, timeout_s: float = 30) -> float:
    """Seconds from `change()` returning to the row satisfying `shows(row)`."""
    change()
    done = time.monotonic()
    while not shows(_row(run)):
        if time.monotonic() - done > timeout_s:
            raise SystemExit(f"the row did not follow within {timeout_s} s:\n{run.daemon.log}")
        time.sleep(0.005)
    return time.monotonic() - done


def _changes(rw, libvirtd, run, cycles: int, tag: str) -> dict[str, list[float]]:
    domains = rw.numOfDomains() + rw.numOfDefinedDomains()
    _fresh(run, lambda: None, lambda r: r.get("num_instances") == domains, timeout_s=120)
    times: dict[str, list[float]] = {}
    for cycle in range(cycles):
        name = f"fresh-{tag}{cycle}"
        disk = libvirtd.images / f"{name}-scsi.qcow2"
        images.create(disk, "qcow2", "1G")
        libvirtd.give(disk)
        for what, seconds in _cycle(rw, run, name, str(disk)):
            times.setdefault(what, []).append(seconds)
        line = ", ".join(f"{what} {values[-1]:.2f} s" for what, values in times.items())
        print(f"  cycle {cycle + 1}: {line}", flush=True)
    return times


def _cycle(rw, run: daemon_run.Run, name: str, disk: str):
    """Define, start, attach a disk to, stop and undefine one domain: (change, seconds)."""
    scsi = (
        "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
        f"<source file='{disk}'/><target dev='sda' bus='scsi'/></disk>"
    )
    before = _row(run)
    instances, active = before["num_instances"], before.get("num_vm_active", 0)
    overcommit = before["overcommit"]
    xml = domain_xml(name, memory_mib=32).replace("<memballoon", SCSI + "<memballoon")
    held: list = []
    steps = [
        ("define", lambda: held.append(rw.defineXML(xml)),
         lambda r: r["num_instances"] == instances + 1),
        ("start", lambda: held[0].create(),
         lambda r: r.get("num_vm_active", 0) == active + 1),
        ("attach disk", lambda: held[0].attachDeviceFlags(scsi, libvirt.VIR_DOMAIN_AFFECT_LIVE),
         lambda r: r["overcommit"] > overcommit),
        ("stop", lambda: held[0].destroy(),
         lambda r: r.get("num_vm_active", 0) == active),
        ("undefine", lambda: held[0].undefine(),
         lambda r: r["num_instances"] == instances),
    ]  # fmt: skip
    for what, change, shows in steps:
        time.sleep(random.uniform(0, 1.5))
        yield what, _fresh(run, change, shows)


def _storm(rw, run: daemon_run.Run, starts: int) -> dict:
    doms = [rw.defineXML(domain_xml(f"storm-{n}", memory_mib=16)) for n in range(STORM_THREADS)]
    time.sleep(3)  # the defines' audit done
    before = _metrics(run.metrics_url)

    def start_and_stop(dom, count: int) -> None:
        for _ in range(count):
            dom.create()
            dom.destroy()

    started = time.monotonic()
    shares = [starts // STORM_THREADS + (n < starts % STORM_THREADS) for n in range(len(doms))]
    with ThreadPoolExecutor(STORM_THREADS) as pool:
        list(pool.map(start_and_stop, doms, shares))
    lasted = time.monotonic() - started
    time.sleep(4)  # the audit after the last event
    after = _metrics(run.metrics_url)
    for dom in doms:
        dom.undefine()
    return {
        "starts": starts,
        "lasted_s": lasted,
        "event_audits": after["event"] - before["event"],
        "period_audits": after["period"] - before["period"],
        "events": after["events"] - before["events"],
    }


def _metrics(url: str) -> dict[str, float]:
    text = urllib.request.urlopen(url, timeout=5).read().decode()

    def value(pattern: str) -> float:
        return sum(float(v) for v in re.findall(rf"^{pattern} (\S+)$", text, re.M))

    return {
        "event": value(r'resource_tracker_audits_total\{trigger="event"\}'),
        "period": value(r'resource_tracker_audits_total\{trigger="period"\}'),
        "events": value(r"resource_tracker_libvirt_events_total\{[^}]*\}"),
    }


def _print(rows: dict, storm: dict | None, args) -> None:
    print(f"\nfreshness: libvirt call returned -> row shows it ({args.cycles} of each change)")
    print("| host | changes | p50 | p95 | max | by change (median) |")
    print("|---|---:|---:|---:|---:|---|")
    for host, times in rows.items():
        every = sorted(t for values in times.values() for t in values)
        p95 = every[min(len(every) - 1, round(0.95 * (len(every) - 1)))]
        by = ", ".join(f"{what} {statistics.median(v):.2f} s" for what, v in times.items())
        print(
            f"| {host} | {len(every)} | {statistics.median(every):.2f} s | {p95:.2f} s "
            f"| {every[-1]:.2f} s | {by} |"
        )
    if storm:
        print(
            f"\nstorm: {storm['starts']} domain starts (each destroyed at once) in "
            f"{storm['lasted_s']:.1f} s, {storm['events']:.0f} libvirt events -> "
            f"{storm['event_audits']:.0f} event audits (+{storm['period_audits']:.0f} periodic)"
        )


if __name__ == "__main__":
    raise SystemExit(main())
