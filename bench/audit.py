"""Audit cost: ours against the naive way (XMLDesc per domain, qemu-img info per qcow2 disk).

A host of N domains (libvirt's test driver reading a host file; every fourth domain shut
off), each with its own qcow2 disk made by qemu-img. For each N, in the same run and
interleaved: the baseline, our first audit (a new driver: nothing cached) and our
steady-state audit (nothing changed since the last). Then the peak memory of our audit at
the largest N. Then (bench/audit_ways.py) --ways domains on the test driver and on a
private real libvirtd with QEMU: the naive way, today's (XMLDesc every audit), the
event-driven one and the floor. From the repository root:

    .venv/bin/python -m bench.audit                  # N = 100, 1000, 10000; ways at 1000
    .venv/bin/python -m bench.audit --sizes 100,1000 --runs 3
    .venv/bin/python -m bench.audit --sizes '' --ways 1000   # the four ways only
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import libvirt
from lxml import etree

from bench import audit_ways
from resource_tracker.units import GiB, KiB, MiB, TiB
from resource_tracker.virt.disk import RACY_CHANGE_NS, FileStorage
from resource_tracker.virt.libvirt.connection import LibvirtConnection
from resource_tracker.virt.libvirt.driver import LibvirtDriver

SHUT_OFF = "<test:runstate>5</test:runstate>"


def main() -> int:
    if sys.argv[1:2] == ["--memory-of"]:
        return _memory_of(*sys.argv[2:4])
    args = _arguments()
    sizes = sorted(int(n) for n in args.sizes.split(",") if n)
    with tempfile.TemporaryDirectory(prefix="rt-bench-", dir=args.dir) as directory:
        root = Path(directory)
        count = max([*sizes, args.ways])
        print(f"making {count} qcow2 images with qemu-img in {root} ...", flush=True)
        disks = _make_images(root / "instances", count)
        _wait_until_settled(disks)
        if sizes:
            rows = [_measure(root, disks[: max(sizes)][:n], args) for n in sizes]
            _print_table(rows, args)
            _print_memory(root, disks[: max(sizes)])
        if args.ways:
            _compare_ways(root, disks[: args.ways], args.runs)
    return 0


def _compare_ways(root: Path, disks: list[str], runs: int) -> None:
    instances = str(root / "instances")
    print(f"\nthe four ways at N={len(disks)}: the test driver ...", flush=True)
    rows = {
        "test driver": audit_ways.compare(
            "test driver", _host_file(root, disks), instances, disks, runs, _naive_audit
        )
    }
    print(f"a private libvirtd with QEMU: defining {len(disks)} domains ...", flush=True)
    daemon = audit_ways.real_libvirtd(disks, _real_domain)
    try:
        rows["libvirtd + QEMU"] = audit_ways.compare(
            "libvirtd", daemon.uri, instances, disks, runs, _naive_audit
        )
    finally:
        daemon.shutdown()
    audit_ways.print_table(rows, len(disks), runs)


def _real_domain(index: int, disk: str) -> str:
    """The test driver's domain of _domain, for QEMU (TCG), shut off."""
    xml = _domain(index, disk).replace(SHUT_OFF, "")
    return xml.replace("<domain type='test'", "<domain type='qemu'").replace(
        "<type>hvm</type>", "<type arch='x86_64' machine='pc'>hvm</type>"
    )


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000", help="numbers of domains")
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each (medians)")
    parser.add_argument(
        "--baseline-sample",
        type=int,
        default=1000,
        help="above this many domains the baseline is timed on an even sample and scaled",
    )
    parser.add_argument(
        "--ways", type=int, default=1000, help="domains of the four-way comparison (0: none)"
    )
    parser.add_argument("--dir", default=None, help="where to make the images (default /tmp)")
    return parser.parse_args()


def _make_images(directory: Path, count: int) -> list[str]:
    directory.mkdir(parents=True)
    paths = [str(directory / f"instance-{i:05d}.qcow2") for i in range(count)]

    def make(index: int) -> None:
        size = f"{1 + index % 80}G"
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", paths[index], size], check=True)
        if index % 10 == 0:  # a tenth of the guests wrote something
            write = ["qemu-io", "-c", f"write 0 {1 + index % 4}M", paths[index]]
            subprocess.run(write, check=True, capture_output=True)

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        list(pool.map(make, range(count)))
    return paths


def _wait_until_settled(paths: list[str]) -> None:
    """Our meter does not keep headers of files changed in the last moments (see disk.py)."""
    newest = max(os.stat(path).st_ctime_ns for path in paths)
    time.sleep(max(0.0, (newest + RACY_CHANGE_NS - time.time_ns()) / 1e9 + 0.1))


def _host_file(directory: Path, disks: list[str]) -> str:
    path = directory / f"host-{len(disks)}.xml"
    with open(path, "w") as host:
        host.write("<node><cpu><mhz>2000</mhz><model>x</model><active>64</active><nodes>2</nodes>")
        host.write(
            "<sockets>2</sockets><cores>16</cores><threads>2</threads></cpu>"
            f"<memory>{2 * TiB // KiB}</memory>"
        )
        for index, disk in enumerate(disks):
            host.write(_domain(index, disk))
        host.write("</node>")
    return f"test://{path}"


def _domain(index: int, disk: str) -> str:
    return (
        "<domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>"
        f"<name>instance-{index:05d}</name><memory unit='MiB'>{512 * (1 + index % 8)}</memory>"
        f"<vcpu>{1 + index % 4}</vcpu><os><type>hvm</type></os><devices>"
        "<disk type='file' device='disk'><driver name='qemu' type='qcow2' cache='none'/>"
        f"<source file='{disk}'/><target dev='vda' bus='virtio'/></disk>"
        "<disk type='file' device='cdrom'><target dev='hda' bus='ide'/><readonly/></disk>"
        f"<interface type='network'><mac address='52:54:00:{index >> 16 & 255:02x}:"
        f"{index >> 8 & 255:02x}:{index & 255:02x}'/><source network='default'/>"
        "<model type='virtio'/></interface><serial type='pty'/><console type='pty'/>"
        f"</devices>{SHUT_OFF if index % 4 == 3 else ''}</domain>"
    )


def _measure(root: Path, disks: list[str], args) -> dict:
    n = len(disks)
    uri = _host_file(root, disks)
    conn = libvirt.openReadOnly(uri)
    step = max(1, n // args.baseline_sample)
    baseline, ours_first, ours_steady = [], [], []
    expected = None
    for _ in range(args.runs):
        seconds, overcommit = _time(lambda: _naive_audit(conn, step))
        baseline.append(seconds * step)
        driver = LibvirtDriver(LibvirtConnection(uri, lambda _uri: conn), FileStorage(str(root)))
        seconds, resources = _time(driver.get_host_resources)
        ours_first.append(seconds)
        for _ in range(3):
            seconds, resources = _time(driver.get_host_resources)
            ours_steady.append(seconds)
        expected = resources.disk_overcommit_bytes
        if step == 1 and overcommit != expected:  # the full baseline ran: must agree to the byte
            raise SystemExit(f"N={n}: baseline over-commit {overcommit} B, ours {expected} B")
        steady = statistics.median(ours_steady[-3:])
        print(f"  N={n}: baseline {baseline[-1]:.2f} s, ours {ours_first[-1]:.3f} s first, "
              f"{steady:.4f} s steady", flush=True)  # fmt: skip
    conn.close()
    return {
        "n": n,
        "sampled": step > 1,
        "baseline": statistics.median(baseline),
        "first": statistics.median(ours_first),
        "steady": statistics.median(ours_steady),
        "overcommit_gib": expected / GiB,
    }


def _naive_audit(conn: libvirt.virConnect, step: int) -> int:
    """The seed's algorithm as Nova wrote it: every domain's XML, qemu-img info per disk."""
    overcommit = 0
    for dom in conn.listAllDomains()[::step]:
        root = etree.fromstring(dom.XMLDesc(0).encode())
        for disk in root.iterfind("devices/disk[@type='file']"):
            source, driver = disk.find("source"), disk.find("driver")
            if source is None or driver is None or driver.get("type") != "qcow2":
                continue
            path = source.get("file")
            info = subprocess.run(
                ["qemu-img", "info", "--output=json", "-U", "-f", "qcow2", path],
                capture_output=True,
                check=True,
            )
            virtual = json.loads(info.stdout)["virtual-size"]
            overcommit += max(0, virtual - os.stat(path).st_blocks * 512)
    return overcommit


def _time(call):
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


def _print_table(rows: list[dict], args) -> None:
    print(f"\nmedians of {args.runs} runs (steady: of {3 * args.runs}); ratio = baseline / ours")
    print("| N | baseline | ours first | ours steady | ratio (steady) | ratio (first) "
          "| ours steady per domain |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        mark = " *" if row["sampled"] else ""
        print(
            f"| {row['n']:,} | {row['baseline']:.2f} s{mark} | {row['first'] * 1e3:.1f} ms "
            f"| {row['steady'] * 1e3:.1f} ms | {row['baseline'] / row['steady']:.0f}x "
            f"| {row['baseline'] / row['first']:.0f}x | {row['steady'] / row['n'] * 1e6:.1f} us |"
        )
    if any(row["sampled"] for row in rows):
        print(f"* baseline timed on an even sample of {args.baseline_sample} domains, scaled to N")


def _print_memory(root: Path, disks: list[str]) -> None:
    """Peak memory of a first and a steady audit at the largest N, in a process of its own."""
    uri = _host_file(root, disks)
    command = [sys.executable, "-m", "bench.audit", "--memory-of", uri, str(root)]
    print(subprocess.run(command, check=True, capture_output=True, text=True).stdout, end="")


def _memory_of(uri: str, root: str) -> int:
    conn = libvirt.openReadOnly(uri)  # the test driver holds the host: not the audit's memory

    def first_and_steady_audit():
        driver = LibvirtDriver(LibvirtConnection(uri, lambda _uri: conn), FileStorage(root))
        driver.get_host_resources()
        return driver.get_host_resources()

    rss_before = _proc_status_kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")  # reset VmHWM, the peak, to the RSS now
    resources = first_and_steady_audit()
    rss_peak = _proc_status_kib("VmHWM")
    tracemalloc.start()
    first_and_steady_audit()
    _, python_peak = tracemalloc.get_traced_memory()
    print(
        f"\npeak memory of the audit at N={len(resources.disks):,} (a first and a steady "
        f"audit, in a new process): RSS +{(rss_peak - rss_before) * KiB / MiB:.1f} MiB over the "
        f"process before it; Python heap peak {python_peak / MiB:.1f} MiB (tracemalloc)"
    )
    return 0


def _proc_status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


if __name__ == "__main__":
    sys.exit(main())
