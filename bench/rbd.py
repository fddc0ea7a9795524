"""RBD storage cost per audit: Ceph's Python binding in-process (ours) against Ceph's CLI.

A private single-node Ceph cluster (tests/support/ceph.py: one monitor, one manager, one OSD
in memory) with N images of one host's domains, a tenth of them written to, plus as many
images of other hosts in the same pool. Per audit, interleaved in one run, medians of
several: ours (RbdStorage: `df` and each of this host's images through librados/librbd on a
connection kept between audits) against the CLI two ways: `ceph df` plus `rbd du` per image,
and `ceph df` plus one `rbd du` of the whole pool (every host's images). Both must agree on
the over-commit to the byte, or the run stops. From the repository root:

    .venv/bin/python -m bench.rbd                    # N = 10, 50
    .venv/bin/python -m bench.rbd --sizes 10 --runs 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import time

from resource_tracker.resources import DomainDisk
from resource_tracker.virt.rbd import RbdStorage
from tests.support.ceph import POOL, TRACKER_USER, CephCluster


def main() -> int:
    args = _arguments()
    sizes = sorted(int(n) for n in args.sizes.split(","))
    cluster = CephCluster()
    cluster.start()
    try:
        print(f"ceph started in {cluster.startup_s:.1f} s; making {2 * sizes[-1]} images ...")
        ours = [_make(cluster, f"host-{i:04d}", i) for i in range(sizes[-1])]
        for i in range(sizes[-1]):
            _make(cluster, f"other-{i:04d}", i)  # another host's: the pool-wide du reads it
        rows = [_measure(cluster, ours[:n], args.runs) for n in sizes]
    finally:
        cluster.stop()
    _print_table(rows, args.runs)
    return 0


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,50", help="numbers of this host's RBD disks")
    parser.add_argument("--runs", type=int, default=5, help="timed audits of each (medians)")
    return parser.parse_args()


def _make(cluster: CephCluster, name: str, index: int) -> str:
    image = cluster.create_image(name, f"{1 + index % 20}G")
    if index % 10 == 0:
        cluster.write(image, f"{4 * (1 + index % 4)}M")
    return image


def _measure(cluster: CephCluster, images: list[str], runs: int) -> dict:
    disks = [
        DomainDisk(f"vm-{i}", "vda", "network", "disk", image, "raw", "rbd")
        for i, image in enumerate(images)
    ]
    storage = RbdStorage(POOL, str(cluster.conf), TRACKER_USER, 10)
    storage.measure()  # connected once, as the daemon stays connected
    times: dict[str, list[float]] = {"ours": [], "cli_per_image": [], "cli_pool": []}
    wanted = set(images)
    for _ in range(runs):
        started = time.perf_counter()
        storage.measure()
        ours = sum(usage.overcommit_bytes for usage in storage.measure_images(disks))
        times["ours"].append(time.perf_counter() - started)

        started = time.perf_counter()
        _cli(cluster, "ceph", "df")
        per_image = sum(_overcommit(_cli(cluster, "rbd", "du", image)) for image in images)
        times["cli_per_image"].append(time.perf_counter() - started)

        started = time.perf_counter()
        _cli(cluster, "ceph", "df")
        pool = _cli(cluster, "rbd", "du", "-p", POOL)
        pool_wide = _overcommit(pool, lambda entry: f"{POOL}/{entry['name']}" in wanted)
        times["cli_pool"].append(time.perf_counter() - started)
        if not ours == per_image == pool_wide:
            raise SystemExit(f"over-commit differs: {ours} {per_image} {pool_wide}")
    storage.close()
    return {"n": len(images)} | {way: statistics.median(t) for way, t in times.items()}


def _cli(cluster: CephCluster, command: str, *args: str) -> dict:
    argv = [command, "-c", str(cluster.conf), "--id", TRACKER_USER, *args, "--format", "json"]
    return json.loads(subprocess.run(argv, capture_output=True, check=True).stdout)


def _overcommit(du: dict, keep=lambda entry: True) -> int:
    return sum(
        entry["provisioned_size"] - entry["used_size"] for entry in du["images"] if keep(entry)
    )


def _print_table(rows: list[dict], runs: int) -> None:
    print(f"\nper audit, medians of {runs}; ratio = CLI / ours")
    print("| RBD disks | ours | CLI, du per image | ratio | CLI, du of the pool | ratio |")
    print("|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        ours = row["ours"]
        print(
            f"| {row['n']} | {ours * 1000:.1f} ms | {row['cli_per_image'] * 1000:.0f} ms "
            f"| {row['cli_per_image'] / ours:.0f}x | {row['cli_pool'] * 1000:.0f} ms "
            f"| {row['cli_pool'] / ours:.0f}x |"
        )


if __name__ == "__main__":
    raise SystemExit(main())
