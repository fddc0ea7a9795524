"""Cost of reporting to Placement: ours (write on change) against a naive sync that reads
the generation and PUTs inventories and traits every audit, side by side against one real
Placement 16.0.0 (tests/support/placement.py; its venv is cached) on a private MariaDB
(tests/support/mariadb.py; on SQLite, Placement answers concurrent writers with HTTP 500,
"database is locked"). Then --hosts hosts on one shared storage (a root each, and the one
sharing provider they all write) registering at once from --threads threads: time to
converge, generation conflicts retried, and the requests of their next audit (want 0).
From the repository root:

    .venv/bin/python -m bench.placement                   # 20 audits, 200 hosts
    .venv/bin/python -m bench.placement --audits 50 --hosts 1000
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import statistics
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pymysql
from keystoneauth1 import session
from keystoneauth1.adapter import Adapter
from keystoneauth1.token_endpoint import Token

from resource_tracker.placement.client import PlacementClient
from resource_tracker.placement.records import Inventory, ProviderReport, ProviderTree
from resource_tracker.placement.sync import ProviderSync
from resource_tracker.placement.tree import TreeSync
from tests.support.mariadb import MariaDBServer
from tests.support.placement import TOKEN, PlacementServer

TRAITS = frozenset({"COMPUTE_NODE", "HW_CPU_X86_AVX2", "HW_ARCH_X86_64"})


def report(name: str, reserved_mb: int = 512) -> ProviderReport:
    return ProviderReport(
        uuid=str(uuid.uuid5(uuid.NAMESPACE_DNS, name)),
        name=name,
        inventories=(
            Inventory("VCPU", 64, 0, 1, 64, 1, 4.0),
            Inventory("MEMORY_MB", 262144, reserved_mb, 1, 262144, 1, 1.0),
            Inventory("DISK_GB", 2000, 0, 1, 2000, 1, 1.0),
        ),
        traits=TRAITS,
        owned_traits=TRAITS,
    )


def client(url: str) -> PlacementClient:
    adapter = Adapter(session.Session(auth=Token(url, TOKEN)), endpoint_override=url)
    return PlacementClient(adapter, 10.0)


def naive(placement: PlacementClient, wanted: ProviderReport) -> None:
    """Every audit: the generation read, inventories and traits PUT whatever they hold."""
    base = f"/resource_providers/{wanted.uuid}"
    deadline = time.monotonic() + 30
    generation = placement.request("GET", base, deadline).body["generation"]
    inventories = {i.resource_class: i.as_placement() for i in wanted.inventories}
    body = {"resource_provider_generation": generation, "inventories": inventories}
    answer = placement.request("PUT", f"{base}/inventories", deadline, body)
    generation = answer.body["resource_provider_generation"]
    body = {"resource_provider_generation": generation, "traits": sorted(wanted.traits)}
    placement.request("PUT", f"{base}/traits", deadline, body)


def audits(url: str, count: int) -> dict[str, list[float]]:
    ours_client, naive_client = client(url), client(url)
    ours = ProviderSync(ours_client, refresh_audits=10)
    mine, theirs = report("bench-ours"), report("bench-naive")
    ours.sync(mine, time.monotonic() + 30)
    ProviderSync(naive_client).sync(theirs, time.monotonic() + 30)  # the provider made
    figures: dict[str, list[float]] = {
        "ours idle": [],
        "naive idle": [],
        "ours s": [],
        "naive s": [],
    }
    for _ in range(count):
        before, started = ours_client.requests, time.perf_counter()
        ours.sync(mine, time.monotonic() + 30)
        figures["ours s"].append(time.perf_counter() - started)
        figures["ours idle"].append(ours_client.requests - before)
        before, started = naive_client.requests, time.perf_counter()
        naive(naive_client, theirs)
        figures["naive s"].append(time.perf_counter() - started)
        figures["naive idle"].append(naive_client.requests - before)
    before = ours_client.requests
    ours.sync(report("bench-ours", reserved_mb=1024), time.monotonic() + 30)
    figures["ours one change"] = [ours_client.requests - before]
    return figures


def fleet(url: str, hosts: int, threads: int) -> tuple[float, int, int, int]:
    """`hosts` trees (a root each, all on one shared storage: one sharing provider they all
    write) reported at once from `threads` threads; then each host's second audit."""
    shared = report("shared storage bench")
    shared = ProviderReport(
        shared.uuid, shared.name, (Inventory("DISK_GB", 100000, 0, 1, 100000, 1, 1.0),),
        frozenset({"MISC_SHARES_VIA_AGGREGATE"}), frozenset({"MISC_SHARES_VIA_AGGREGATE"}),
        aggregates=frozenset({shared.uuid}),
    )  # fmt: skip
    syncs = [TreeSync(client(url)) for _ in range(hosts)]

    def tree(index: int) -> ProviderTree:
        root = dataclasses.replace(report(f"fleet-{index}"), aggregates=frozenset({shared.uuid}))
        return ProviderTree(root, shared)

    def register(index: int):
        return syncs[index].sync(tree(index), time.monotonic() + 120)

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        outcomes = list(pool.map(register, range(hosts)))
    took = time.perf_counter() - started
    failed = sum(outcome.failure is not None for outcome in outcomes)
    with ThreadPoolExecutor(threads) as pool:
        again = sum(outcome.requests for outcome in pool.map(register, range(hosts)))
    return took, sum(o.conflicts for o in outcomes), failed, again


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--audits", type=int, default=20)
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--threads", type=int, default=16)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")  # the figures, not INFO
    with tempfile.TemporaryDirectory() as directory:
        mariadb = MariaDBServer(str(Path(directory) / "mariadb"))
        mariadb.initialize()
        mariadb.start()
        admin = pymysql.connect(host="127.0.0.1", port=mariadb.port, user="root")
        with admin, admin.cursor() as cursor:
            cursor.execute("CREATE DATABASE placement CHARACTER SET utf8mb4")
        server = PlacementServer(Path(directory), mariadb.url("placement"))
        server.start()
        try:
            figures = audits(server.url, args.audits)
            ours_idle = sum(figures["ours idle"]) / args.audits
            naive_idle = sum(figures["naive idle"]) / args.audits
            print(f"requests per idle audit ({args.audits} audits, refresh every 10):")
            print(f"  ours {ours_idle:.2f}   naive {naive_idle:.2f}")
            print(f"  ratio naive/ours {naive_idle / ours_idle:.0f}x" if ours_idle else "")
            ours_ms = statistics.median(figures["ours s"]) * 1000
            naive_ms = statistics.median(figures["naive s"]) * 1000
            print(f"median time per idle audit: ours {ours_ms:.2f} ms, naive {naive_ms:.2f} ms")
            print(f"requests on one change (ours): {figures['ours one change'][0]:.0f}")
            took, conflicts, failed, again = fleet(server.url, args.hosts, args.threads)
            print(
                f"{args.hosts} hosts on one shared storage registering from {args.threads} "
                f"threads: {took:.1f} s, {conflicts} generation conflicts retried, "
                f"{failed} failed; their next audit: {again} requests"
            )
        finally:
            server.stop()
            mariadb.stop()


if __name__ == "__main__":
    main()
