"""The whole steady audit against the stat-only floor, on both drivers, at N domains.

For libvirt's test driver (a host file) and a private real libvirtd with QEMU (N shut-off
domains), each domain with its own qcow2 made by qemu-img:

The images are on a file system of their own (a tmpfs, as root), whose free space moves
only when they change, as on an idle host; the databases are SQLite files on the root
file system (a commit's fsyncs are real).

1. the daemon's parts in this process, wired as the daemon wires them (domain and device
   events, SQLite with full_read_every = 10 and report_interval = 10 s, the last-audit
   file), --audits steady audits back to back (an unchanged one sends the database nothing:
   its last heartbeat is younger than report_interval, as the daemon's heartbeat between
   audits keeps it), with the floor (one getAllDomainStats and one stat per disk, on a
   connection of its own) timed after each, then the sweep the daemon runs after a periodic
   audit and the heartbeat it writes on its own every report_interval: the audit by part,
   the floor, the sweep, the heartbeat, and what each audit did (domain and device XML
   read, in the audit and in the sweep, database statements, last-audit writes); then
   getAllDomainStats
   alone, with the STATE group and with the groups a signature of the changes libvirt sends
   no event for would need (VCPU, BALLOON, BLOCK);
2. the daemon itself (a real process, update_resources_interval = 1, report_interval 10 s
   by default, debug off): the audit time it logs, read from the STATUS= line it sends
   systemd after each audit (a test socket as NOTIFY_SOCKET), with the floor timed in this
   process half a period after each audit; the median and the mean (which counts the one
   audit in 10 that commits the heartbeat and reads the rows); and its RSS every 10 s (the
   curve), over --seconds.

Ratios are of medians measured in the same run. From the repository root (root, for the
private libvirtd):

    .venv/bin/python -m bench.whole_audit                   # N = 1000, 60 audits, 120 s
    .venv/bin/python -m bench.whole_audit --domains 100 --seconds 30
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import tempfile
import time
from pathlib import Path

import libvirt
from sqlalchemy import event

from bench import audit as bench_audit
from bench import audit_ways, daemon_run
from resource_tracker.audit.last_audit import LastAuditFile
from resource_tracker.audit.tracker import HostPolicy, ResourceTracker
from resource_tracker.db.api import Database
from resource_tracker.virt.disk import FileStorage
from resource_tracker.virt.libvirt import events
from resource_tracker.virt.libvirt.connection import LibvirtConnection
from resource_tracker.virt.libvirt.device_lister import DeviceLister
from resource_tracker.virt.libvirt.domains import DomainLister
from resource_tracker.virt.libvirt.driver import LibvirtDriver
from tests.support.notify import NotifyListener
from tests.support.quiet_fs import own_file_system

REPORT_INTERVAL_S = 10  # the daemon's default
PARTS = ("driver", "shape and values", "database", "last audit", "whole", "floor")
# getAllDomainStats alone: what the listing costs, and with the groups a signature of the
# changes libvirt sends no event for would need (vCPUs, memory, disks and their paths)
SIGNATURE = {
    "listing (STATE)": libvirt.VIR_DOMAIN_STATS_STATE,
    "listing (STATE, VCPU, BALLOON, BLOCK)": libvirt.VIR_DOMAIN_STATS_STATE
    | libvirt.VIR_DOMAIN_STATS_VCPU
    | libvirt.VIR_DOMAIN_STATS_BALLOON
    | libvirt.VIR_DOMAIN_STATS_BLOCK,
}


def main() -> int:
    args = _arguments()
    with tempfile.TemporaryDirectory(prefix="rt-whole-") as directory:
        root = Path(directory)
        with own_file_system(root / "quiet") as quiet:
            _run_both(root, quiet / "instances", args)
    return 0


def _run_both(root: Path, instances: Path, args) -> None:
    """The images on a file system of their own: an idle host's free space stays put."""
    print(f"making {args.domains} qcow2 images with qemu-img ...", flush=True)
    disks = bench_audit._make_images(instances, args.domains)
    bench_audit._wait_until_settled(disks)
    results = {}
    uri = bench_audit._host_file(root, disks)
    results["test driver"] = _both(root, uri, instances, disks, args)
    print(f"a private libvirtd with QEMU: defining {args.domains} domains ...", flush=True)
    libvirtd = audit_ways.real_libvirtd(disks, bench_audit._real_domain)
    try:
        results["libvirtd + QEMU"] = _both(root, libvirtd.uri, instances, disks, args)
    finally:
        libvirtd.shutdown()
    _print(results, args)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", type=int, default=1000)
    parser.add_argument("--audits", type=int, default=60, help="in-process steady audits")
    parser.add_argument("--seconds", type=int, default=120, help="the daemon's run")
    return parser.parse_args()


def _both(root: Path, uri: str, instances: Path, disks: list[str], args) -> dict:
    print(f"  {uri[:40]}...: in this process", flush=True)
    parts, counts = _in_process(root, uri, instances, disks, args.audits)
    print(f"  {uri[:40]}...: the daemon for {args.seconds} s", flush=True)
    logged, floor, rss = _daemon(root, uri, instances, disks, args.seconds)
    return {
        "parts": parts,
        "counts": counts,
        "logged": logged,
        "daemon_floor": floor,
        "rss": rss,
    }


class _Timed:
    """Wraps a part of the audit and times each call to `method`."""

    def __init__(self, inner, method: str):
        self._inner, self.times = inner, []
        timed = getattr(inner, method)

        def call(*args, **kwargs):
            started = time.perf_counter()
            try:
                return timed(*args, **kwargs)
            finally:
                self.times.append(time.perf_counter() - started)

        setattr(self, method, call)

    def __getattr__(self, name):
        return getattr(self._inner, name)


def _in_process(root: Path, uri: str, instances: Path, disks: list[str], audits: int):
    events.start()
    conn = libvirt.openReadOnly(uri)
    floor_conn = libvirt.openReadOnly(uri)
    domains, devices = DomainLister(), DeviceLister()
    driver = _Timed(
        LibvirtDriver(
            LibvirtConnection(uri, lambda _uri: conn),
            FileStorage(str(instances)),
            devices=devices,
            domains=domains,
        ),
        "get_host_resources",
    )
    state = Path(tempfile.mkdtemp(dir=root))
    database = Database(
        f"sqlite:///{state}/rt.sqlite", full_read_every=10, report_interval_s=REPORT_INTERVAL_S
    )
    database.sync_schema()
    statements: list[str] = []
    event.listen(database.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    store = _Timed(database, "reconcile_compute_nodes")
    last = _Timed(LastAuditFile(str(state / "last-audit.json")), "write")
    tracker = ResourceTracker("bench-1", driver, store, last)
    for _ in range(3):  # the first audit reads everything; then steady
        tracker.audit(HostPolicy())
    for timed in (driver, store, last):
        timed.times.clear()
    statements.clear()
    xml, device_xml, writes = domains.xml_reads, devices.xml_reads, last.writes
    whole, floor, sweeps, beats, swept = [], [], [], [], 0
    for _ in range(audits):
        result = tracker.audit(HostPolicy())
        whole.append(result.duration_s)
        started = time.perf_counter()
        audit_ways._floor(floor_conn, disks)
        floor.append(time.perf_counter() - started)
        started = time.perf_counter()
        swept += tracker.sweep().xml_reads  # as the daemon does after a periodic audit
        sweeps.append(time.perf_counter() - started)
        if len(beats) < audits // 3:  # as the daemon between audits, every report_interval
            sent = len(statements)
            started = time.perf_counter()
            tracker.beat()
            beats.append(time.perf_counter() - started)
            del statements[sent:]  # the audits' statements are counted, not the beats'
    parts = {
        "driver": driver.times,
        "shape and values": [
            w - d - s - la
            for w, d, s, la in zip(whole, driver.times, store.times, last.times, strict=True)
        ],
        "database": store.times,
        "last audit": last.times,
        "whole": whole,
        "floor": floor,
    }
    counts = {
        "domain XML reads": (domains.xml_reads - xml - swept) / audits,
        "of the sweep between audits": swept / audits,
        "device XML reads": (devices.xml_reads - device_xml) / audits,
        "database statements": len(statements) / audits,
        "of them beyond the heartbeat": sum(
            not s.lstrip().startswith("UPDATE services") for s in statements
        )
        / audits,
        "last-audit rewrites": (last.writes - writes) / audits,
    }
    listing = {name: [] for name in SIGNATURE}
    for _ in range(audits // 3):
        for name, groups in SIGNATURE.items():
            started = time.perf_counter()
            floor_conn.getAllDomainStats(groups)
            listing[name].append(time.perf_counter() - started)
    parts["sweep (between audits)"] = sweeps
    parts["heartbeat (between audits)"] = beats
    parts.update(listing)
    driver.close()
    database.dispose()
    floor_conn.close()
    return {part: statistics.median(values) for part, values in parts.items()}, counts


def _daemon(root: Path, uri: str, instances: Path, disks: list[str], seconds: int):
    # Each audit's time as the daemon logs it, from the STATUS= line it sends systemd after
    # each audit: an unchanged audit logs its line at DEBUG only, and `debug = true` would
    # also log one line per disk (1,000 an audit) for the bench to read.
    listener = NotifyListener(str(Path(tempfile.mkdtemp(dir=root)) / "notify.sock"))
    run = daemon_run.start(
        root, uri, instances, interval_s=1, env={"NOTIFY_SOCKET": listener.path}
    )
    conn = libvirt.openReadOnly(uri)
    floor, rss = [], []
    try:
        run.daemon.wait_for_log(r"audit: ", timeout_s=120)
        started = time.monotonic()
        seen = len(_audit_ms(listener))
        while time.monotonic() - started < seconds:
            if len(_audit_ms(listener)) > seen:  # half a period after the daemon's audit
                seen = len(_audit_ms(listener))
                time.sleep(0.5)
                began = time.perf_counter()
                audit_ways._floor(conn, disks)
                floor.append(time.perf_counter() - began)
            elapsed = time.monotonic() - started
            if elapsed >= len(rss) * 10:
                rss.append((elapsed, run.rss_mib()))
            time.sleep(0.02)
        logged = [ms / 1000 for ms in _audit_ms(listener)[3:]]
    finally:
        conn.close()
        run.stop()
        listener.close()
    return (statistics.median(logged), statistics.fmean(logged)), statistics.median(floor), rss


def _audit_ms(listener: NotifyListener) -> list[float]:
    """The duration of every audit the daemon reported, in order."""
    return [
        float(found.group(1))
        for text in listener.texts()
        if (found := re.search(r"^STATUS=.*, audit ([\d.]+) ms,", text, re.MULTILINE))
    ]


def _print(results: dict, args) -> None:
    print(f"\n{args.domains:,} domains; in this process: medians of {args.audits} steady audits")
    print("| driver | " + " | ".join(PARTS) + " | whole / floor |")
    print("|---" * (len(PARTS) + 2) + "|")
    for name, result in results.items():
        parts = result["parts"]
        cells = " | ".join(f"{parts[part] * 1e3:.2f} ms" for part in PARTS)
        print(f"| {name} | {cells} | {parts['whole'] / parts['floor']:.2f}x |")
    print(
        "\nbeside the audit (in this process): the sweep after each, the heartbeat the daemon "
        f"writes every {REPORT_INTERVAL_S} s (6 per default period), and the listing alone"
    )
    extra = ("sweep (between audits)", "heartbeat (between audits)", *SIGNATURE)
    print("| driver | " + " | ".join(extra) + " | signature listing / STATE listing |")
    print("|---" * (len(extra) + 2) + "|")
    for name, result in results.items():
        parts = result["parts"]
        cells = " | ".join(f"{parts[part] * 1e3:.2f} ms" for part in extra)
        ratio = parts[extra[3]] / parts[extra[2]]
        print(f"| {name} | {cells} | {ratio:.2f}x |")
    print("\nper steady audit (in this process)")
    for name, result in results.items():
        print(f"  {name}: " + ", ".join(f"{k} {v:.2f}" for k, v in result["counts"].items()))
    print(
        f"\nthe daemon (update_resources_interval = 1, report_interval = {REPORT_INTERVAL_S}, "
        f"{args.seconds} s): logged audit vs floor"
    )
    print(
        "| driver | logged audit, median | mean | floor | median / floor | mean / floor "
        "| RSS MiB over time (s) |"
    )
    print("|---|---:|---:|---:|---:|---:|---|")
    for name, result in results.items():
        curve = ", ".join(f"{t:.0f}: {mib:.1f}" for t, mib in result["rss"])
        (median, mean), floor = result["logged"], result["daemon_floor"]
        print(
            f"| {name} | {median * 1e3:.2f} ms | {mean * 1e3:.2f} ms | {floor * 1e3:.2f} ms "
            f"| {median / floor:.2f}x | {mean / floor:.2f}x | {curve} |"
        )
    print(f"(pid {os.getpid()})")


if __name__ == "__main__":
    raise SystemExit(main())
