"""The daemon's resident memory over time at N domains: the curve, and what it is made of.

A private real libvirtd with QEMU holds N shut-off domains, each with a qcow2 of its own
made by qemu-img (on a file system of its own, as root); the daemon is a real process
(bench/daemon_run.py: SQLite, metrics on, events on) auditing them every --interval
seconds (60, the default period). Every --sample seconds this prints its RSS, the anonymous
and file-backed parts (/proc/PID/smaps_rollup) and its threads; at the end the medians of
the last quarter of the run. `--versus DIR` runs a second daemon from another virtualenv's
bin directory (another checkout, e.g. main's) beside it on the same libvirtd, so the two
curves share the machine's conditions. "imports" is a process that imports what the
daemon imports, before it opens anything.

From the repository root, as root (the private libvirtd):

    .venv/bin/python -m bench.rss                          # N = 1000, 60 minutes
    .venv/bin/python -m bench.rss --minutes 10 --versus /work/main/.venv/bin
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import audit as bench_audit
from bench import audit_ways, daemon_run
from tests.support.quiet_fs import own_file_system

# What `resource-tracker` imports before it reads its config, and the database layer.
IMPORTS = (
    "import resource_tracker.cmd.daemon, resource_tracker.daemon.service, gc;"
    "from resource_tracker.db.api import Database; Database('sqlite://'); gc.collect();"
    "print(next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmRSS:')))"
)
FIELDS = ("rss", "anonymous", "file", "threads")


def main() -> int:
    args = _arguments()
    here = os.path.dirname(sys.executable)
    daemons = {"this tree": (here, {})}
    for each in args.env:
        daemons[f"this tree, {each}"] = (here, dict([each.split("=", 1)]))
    if args.versus:
        daemons["versus"] = (args.versus, {})
    with tempfile.TemporaryDirectory(prefix="rt-rss-") as directory:
        root = Path(directory)
        with own_file_system(root / "quiet") as quiet:
            instances = quiet / "instances"
            print(f"making {args.domains} qcow2 images with qemu-img ...", flush=True)
            disks = bench_audit._make_images(instances, args.domains)
            bench_audit._wait_until_settled(disks)
            print(f"a private libvirtd with QEMU: defining {args.domains} domains ...", flush=True)
            libvirtd = audit_ways.real_libvirtd(disks, bench_audit._real_domain)
            try:
                curves = _run(root, libvirtd.uri, instances, daemons, args)
            finally:
                libvirtd.shutdown()
    _summary(curves, daemons, args)
    return 0


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", type=int, default=1000)
    parser.add_argument("--minutes", type=float, default=60)
    parser.add_argument("--interval", type=int, default=60, help="update_resources_interval")
    parser.add_argument("--sample", type=int, default=60, help="seconds between samples")
    parser.add_argument("--versus", help="a virtualenv's bin directory to run beside this one")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="also run this tree's daemon with NAME=VALUE in its environment (repeatable)",
    )
    return parser.parse_args()


def _run(root: Path, uri: str, instances: Path, daemons: dict, args) -> dict:
    runs = {
        name: daemon_run.start(root, uri, instances, args.interval, bin_dir=bin_dir, env=env)
        for name, (bin_dir, env) in daemons.items()
    }
    curves: dict[str, list[tuple[float, dict]]] = {name: [] for name in runs}
    try:
        for name, run in runs.items():
            if not run.daemon.wait_for_log(r"audit: ", timeout_s=300):
                raise SystemExit(f"{name}: no audit within 300 s:\n{run.daemon.log[-3000:]}")
        started = time.monotonic()
        print(f"sampling every {args.sample} s for {args.minutes} min", flush=True)
        for tick in range(int(args.minutes * 60 / args.sample) + 1):
            time.sleep(max(0.0, started + tick * args.sample - time.monotonic()))
            elapsed = time.monotonic() - started
            for name, run in runs.items():
                sample = _sample(run.daemon.process.pid) | {"audits": run.audits()}
                curves[name].append((elapsed, sample))
                cells = ", ".join(f"{k} {v:.1f}" for k, v in sample.items())
                print(f"  {elapsed / 60:6.1f} min  {name}: {cells}", flush=True)
        return curves
    finally:
        for run in runs.values():
            run.stop()


def _sample(pid: int) -> dict[str, float]:
    """RSS, its anonymous and file-backed parts (MiB), and the threads, of process `pid`."""
    with open(f"/proc/{pid}/smaps_rollup") as rollup:
        kib = {line.split(":")[0]: int(line.split()[1]) for line in rollup if ":" in line[:20]}
    with open(f"/proc/{pid}/status") as status:
        threads = next(int(line.split()[1]) for line in status if line.startswith("Threads:"))
    return {
        "rss": kib["Rss"] / 1024,
        "anonymous": kib["Anonymous"] / 1024,
        "file": (kib["Rss"] - kib["Anonymous"]) / 1024,
        "threads": float(threads),
    }


def _imports_mib(bin_dir: str) -> float:
    python = os.path.join(bin_dir, "python")
    done = subprocess.run(  # not from the current directory: bin_dir's own tree
        [python, "-c", IMPORTS], capture_output=True, text=True, check=True, cwd="/"
    )
    return int(done.stdout) / 1024


def _summary(curves: dict, daemons: dict, args) -> None:
    print(
        f"\n{args.domains:,} domains on a real libvirtd, update_resources_interval = "
        f"{args.interval}, {args.minutes:g} min; MiB, medians of the last quarter's samples"
    )
    print("| daemon | imports | first sample | " + " | ".join(FIELDS) + " | max RSS | audits |")
    print("|---|" + "---:|" * (len(FIELDS) + 4))
    for name, curve in curves.items():
        last = [sample for _, sample in curve[-max(1, len(curve) // 4) :]]
        cells = " | ".join(f"{statistics.median(s[f] for s in last):.1f}" for f in FIELDS)
        imports = _imports_mib(daemons[name][0])
        print(
            f"| {name} | {imports:.1f} | {curve[0][1]['rss']:.1f} | {cells} "
            f"| {max(s['rss'] for _, s in curve):.1f} | {curve[-1][1]['audits']:.0f} |"
        )
    for name, curve in curves.items():
        every = max(1, len(curve) // 12)
        points = ", ".join(f"{t / 60:.0f}: {s['rss']:.1f}" for t, s in curve[::every])
        print(f"{name}, RSS by minute: {points}")


if __name__ == "__main__":
    raise SystemExit(main())
