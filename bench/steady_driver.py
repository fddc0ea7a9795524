"""The driver's steady audit alone against the floor, on libvirt's test driver, interleaved.

N domains (every fourth shut off), each with its own qcow2 made by qemu-img on a file system
of its own (a tmpfs, as root); a LibvirtDriver with domain events, audited three times
(the first reads everything), then --rounds times: one steady get_host_resources, then the
floor (bench/audit_ways.py: one getAllDomainStats and one stat per disk, on a connection of
its own). Prints the medians and their ratio. Wall time is noisy on a shared machine; with
--instructions the same runs only --rounds audits then --rounds floors, each phase opened
by os.getppid(), for callgrind to count apart (noise-immune):

    .venv/bin/python -m bench.steady_driver                 # N = 1000, 200 rounds
    valgrind --tool=callgrind --dump-before=getppid --callgrind-out-file=/tmp/cg.%p \\
        .venv/bin/python -m bench.steady_driver --instructions --rounds 10
    # /tmp/cg.<pid>.2: the audits, /tmp/cg.<pid>.3: the floors ("summary:" line, / rounds)
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import libvirt

from bench import audit as bench_audit
from bench import audit_ways
from resource_tracker.virt.disk import FileStorage
from resource_tracker.virt.libvirt import events
from resource_tracker.virt.libvirt.connection import LibvirtConnection
from resource_tracker.virt.libvirt.device_lister import DeviceLister
from resource_tracker.virt.libvirt.domains import DomainLister
from resource_tracker.virt.libvirt.driver import LibvirtDriver
from tests.support.quiet_fs import own_file_system


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--instructions", action="store_true", help="phases for callgrind")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rt-steady-") as directory:
        root = Path(directory)
        with own_file_system(root / "quiet") as quiet:
            disks = bench_audit._make_images(quiet / "instances", args.domains)
            bench_audit._wait_until_settled(disks)
            _run(root, quiet / "instances", disks, args)
    return 0


def _run(root: Path, instances: Path, disks: list[str], args) -> None:
    uri = bench_audit._host_file(root, disks)
    events.start()
    conn, floor_conn = libvirt.openReadOnly(uri), libvirt.openReadOnly(uri)
    driver = LibvirtDriver(
        LibvirtConnection(uri, lambda _uri: conn),
        FileStorage(str(instances)),
        devices=DeviceLister(),
        domains=DomainLister(),
    )
    for _ in range(3):  # the first audit reads everything; then steady
        driver.get_host_resources()
    if args.instructions:
        os.getppid()
        for _ in range(args.rounds):
            driver.get_host_resources()
        os.getppid()
        for _ in range(args.rounds):
            audit_ways._floor(floor_conn, disks)
        os.getppid()
        return
    audits, floors = [], []
    for _ in range(args.rounds):
        started = time.perf_counter()
        driver.get_host_resources()
        audits.append(time.perf_counter() - started)
        started = time.perf_counter()
        audit_ways._floor(floor_conn, disks)
        floors.append(time.perf_counter() - started)
    audit, floor = statistics.median(audits), statistics.median(floors)
    print(
        f"{args.domains:,} domains, medians of {args.rounds} rounds: steady "
        f"get_host_resources {audit * 1e3:.2f} ms, floor {floor * 1e3:.2f} ms, "
        f"ratio {audit / floor:.2f}x"
    )


if __name__ == "__main__":
    raise SystemExit(main())
