"""Node device cost: reading devices on change (events) against reading them every audit.

A host of P SR-IOV PFs with V VFs each and a GPU with mdevs (libvirt's test driver reading
a host file). Side by side in one run, interleaved, the steady-state cost of the device part
of an audit (DeviceLister.list) on one connection: with node device events (nothing changed,
so nothing is read) and without (listAllDevices and one XMLDesc per device, as Nova's
driver does every period; XML that did not change is not parsed again). Medians of --runs.
From the repository root:

    .venv/bin/python -m bench.devices                 # 8 PFs x 63 VFs: 522 devices
    .venv/bin/python -m bench.devices --pfs 2 --vfs 7 --runs 9
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import libvirt

from resource_tracker.units import GiB, KiB
from resource_tracker.virt.libvirt import events
from resource_tracker.virt.libvirt.device_lister import DeviceLister


def main() -> int:
    args = _arguments()
    events.start()
    with tempfile.TemporaryDirectory(prefix="rt-bench-devices-") as directory:
        path = Path(directory) / "node.xml"
        count = _write_host(path, args.pfs, args.vfs)
        conn = libvirt.openReadOnly(f"test://{path}")
        try:
            on, off = DeviceLister(use_events=True), DeviceLister(use_events=False)
            on.list(conn), off.list(conn)  # the first audit reads everything, both ways
            timings = {"events": [], "every audit": []}
            for _ in range(args.runs):
                for name, lister in (("events", on), ("every audit", off)):
                    started = time.perf_counter()
                    found = lister.list(conn)
                    timings[name].append((time.perf_counter() - started, found.xml_reads))
        finally:
            conn.close()
    print(f"{count} node devices ({args.pfs} PFs x {args.vfs} VFs, a GPU, 4 mdevs); "
          f"steady-state device read, median of {args.runs}:")  # fmt: skip
    medians = {name: statistics.median(t for t, _ in runs) for name, runs in timings.items()}
    for name, runs in timings.items():
        reads = runs[-1][1]
        print(f"  {name:<12} {medians[name] * 1000:9.3f} ms  {reads:4d} XML reads per audit")
    ratio = medians["every audit"] / medians["events"]
    print(f"  reading on change is {ratio:,.0f}x cheaper")
    return 0


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pfs", type=int, default=8, help="SR-IOV PFs")
    parser.add_argument("--vfs", type=int, default=63, help="VFs per PF (at most 248)")
    parser.add_argument("--runs", type=int, default=15, help="timed audits of each (medians)")
    return parser.parse_args()


def _write_host(path: Path, pfs: int, vfs: int) -> int:
    devices = []
    for pf in range(pfs):
        bus = 0x40 + pf
        addresses = [(bus, 0x10 + n // 8, n % 8) for n in range(vfs)]
        listed = "".join(
            f"<address domain='0x0000' bus='{b:#x}' slot='{s:#x}' function='{f:#x}'/>"
            for b, s, f in addresses
        )
        devices.append(_pci(bus, 0, 0, "0x10fb", f"<capability type='virt_functions'>{listed}"
                            "</capability>"))  # fmt: skip
        phys = f"<address domain='0x0000' bus='{bus:#x}' slot='0x0' function='0x0'/>"
        devices += [
            _pci(b, s, f, "0x10ed", f"<capability type='phys_function'>{phys}</capability>")
            for b, s, f in addresses
        ]
    gpu_types = (
        "<capability type='mdev_types'><type id='nvidia-222'><name>GRID T4-4Q</name>"
        "<deviceAPI>vfio-pci</deviceAPI><availableInstances>0</availableInstances></type>"
        "</capability>"
    )
    devices.append(_pci(0x3B, 0, 0, "0x1eb8", gpu_types, vendor="0x10de"))
    devices += [
        f"<device><name>mdev_{n:08d}_0000_4000_8000_000000000000</name>"
        f"<parent>pci_0000_3b_00_0</parent><capability type='mdev'><type id='nvidia-222'/>"
        f"<uuid>{n:08d}-0000-4000-8000-000000000000</uuid></capability></device>"
        for n in range(4)
    ]
    path.write_text(
        "<node><cpu><mhz>2000</mhz><model>x</model><active>8</active><nodes>1</nodes>"
        "<sockets>1</sockets><cores>4</cores><threads>2</threads></cpu>"
        f"<memory>{16 * GiB // KiB}</memory>{''.join(devices)}</node>"
    )
    return len(devices)


def _pci(bus: int, slot: int, function: int, product: str, caps: str, vendor="0x8086") -> str:
    return (
        f"<device><name>pci_0000_{bus:02x}_{slot:02x}_{function:x}</name><parent>computer"
        f"</parent><capability type='pci'><class>0x020000</class><domain>0</domain>"
        f"<bus>{bus}</bus><slot>{slot}</slot><function>{function}</function>"
        f"<product id='{product}'/><vendor id='{vendor}'/>{caps}<iommuGroup number='{bus}'/>"
        "<numa node='0'/></capability></device>"
    )


if __name__ == "__main__":
    raise SystemExit(main())
