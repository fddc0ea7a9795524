"""Cost of reporting to Placement: ours (write on change) against a naive sync that reads
the generation and PUTs inventories and traits every audit, side by side against one real
Placement 16.0.0 (tests/support/placement.py; its venv is cached). Then --hosts providers
registering at once from --threads threads: time to converge and conflicts retried
(Placement on SQLite answers concurrent writers with HTTP 500, "database is locked": more
than one thread needs a Placement on MariaDB, which this bench does not start).
From the repository root:

    .venv/bin/python -m bench.placement                   # 20 audits, 100 hosts
    .venv/bin/python -m bench.placement --audits 50 --hosts 1000
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from keystoneauth1 import session
from keystoneauth1.adapter import Adapter
from keystoneauth1.token_endpoint import Token

from resource_tracker.placement.client import PlacementClient
from resource_tracker.placement.records import Inventory, ProviderReport
from resource_tracker.placement.sync import ProviderSync
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


def fleet(url: str, hosts: int, threads: int) -> tuple[float, int, int]:
    def register(index: int):
        return ProviderSync(client(url)).sync(report(f"fleet-{index}"), time.monotonic() + 60)

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        outcomes = list(pool.map(register, range(hosts)))
    failed = sum(outcome.failure is not None for outcome in outcomes)
    return time.perf_counter() - started, sum(o.conflicts for o in outcomes), failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--audits", type=int, default=20)
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)  # SQLite: one writer
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        server = PlacementServer(Path(directory))
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
            took, conflicts, failed = fleet(server.url, args.hosts, args.threads)
            print(
                f"{args.hosts} hosts registering from {args.threads} threads: {took:.1f} s, "
                f"{conflicts} conflicts retried, {failed} failed"
            )
        finally:
            server.stop()


if __name__ == "__main__":
    main()
