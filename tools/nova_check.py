"""Check our compute_nodes rows against Nova's own objects (nova is never our dependency).

Two steps, two virtualenvs:

    # 1. in ours: audit libvirt's test driver (two NUMA cells; pinned and floating NUMA
    #    domains as Nova 34 writes them, a floating one shut off), the suite's device host
    #    file (SR-IOV, NVMe on two NUMA nodes, offered by its device_spec) and, with
    #    --libvirtd, a private real libvirtd (the test suite's), into a SQLite file
    .venv/bin/python tools/nova_check.py write /tmp/nova-check.sqlite [--libvirtd]
    # 2. in a throwaway one with nova installed (python3 -m venv /tmp/nova-venv &&
    #    /tmp/nova-venv/bin/pip install nova): load every live row as Nova does
    /tmp/nova-venv/bin/python tools/nova_check.py check /tmp/nova-check.sqlite

`check` loads numa_topology with NUMATopology.obj_from_db_obj and compares Nova's own
serialization of the result with ours, builds a ComputeNode with ComputeNode._from_db_object
(stats, supported_instances -> HVSpec, host_ip, pci_stats -> pci_device_pools) and a
scheduler HostState from it, asks Nova's NUMA fitting code (hardware.numa_fit_instance_to_host)
whether a pinned guest fits, and the HostState's PCI pools whether a tagged VF fits.
It prints what Nova sees and exits 1 on the first mismatch. Not imported by the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Domain XML as Nova 34's libvirt driver writes it (_get_guest_numa_config) with
# cpu_shared_set 0-7 and cpu_dedicated_set 8-15 on test:///default's two cells: a dedicated
# guest pins each vCPU to one CPU of cell 1 (its emulator threads, without a policy, float
# over those CPUs); a floating NUMA guest pins every vCPU, and its emulator, to cell 0's
# shared CPUs, which is shared use (cpu_usage), not pinned_cpus.
PINNED = """<domain type='test'><name>pinned-{n}</name><memory unit='KiB'>524288</memory>
  <vcpu>2</vcpu>
  <cputune><vcpupin vcpu='0' cpuset='{a}'/><vcpupin vcpu='1' cpuset='{b}'/>
    <emulatorpin cpuset='{a},{b}'/></cputune>
  <numatune><memory mode='strict' nodeset='1'/><memnode cellid='0' mode='strict' nodeset='1'/>
  </numatune>
  <cpu mode='host-model' match='exact'><numa><cell id='0' cpus='0-1' memory='524288'/></numa>
  </cpu><os><type>hvm</type></os></domain>"""
FLOATING = """<domain type='test'><name>{name}</name><memory unit='KiB'>262144</memory>
  <vcpu>3</vcpu>
  <cputune><vcpupin vcpu='0' cpuset='0-7'/><vcpupin vcpu='1' cpuset='0-7'/>
    <vcpupin vcpu='2' cpuset='0-7'/><emulatorpin cpuset='0-7'/></cputune>
  <numatune><memory mode='strict' nodeset='0'/><memnode cellid='0' mode='strict' nodeset='0'/>
  </numatune>
  <cpu mode='host-model' match='exact'><numa><cell id='0' cpus='0-2' memory='262144'/></numa>
  </cpu><os><type>hvm</type></os></domain>"""


def write(database_path: str, with_libvirtd: bool) -> None:
    sys.path.insert(0, ROOT)
    import libvirt

    from resource_tracker.audit.shape import ReservedPages, ShapePolicy
    from resource_tracker.audit.tracker import HostPolicy, ResourceTracker
    from resource_tracker.db.api import Database
    from resource_tracker.virt.disk import FileStorage
    from resource_tracker.virt.libvirt.connection import LibvirtConnection
    from resource_tracker.virt.libvirt.driver import LibvirtDriver

    database = Database(f"sqlite:///{os.path.abspath(database_path)}")
    database.sync_schema()

    def audit(host: str, uri: str, policy: ShapePolicy, specs=()) -> None:
        driver = LibvirtDriver(LibvirtConnection(uri), FileStorage("/tmp"))
        tracker = ResourceTracker(host, driver, database, shape_policy=policy, device_specs=specs)
        print(tracker.audit(HostPolicy()).summary())
        driver.close()

    conn = libvirt.open("test:///default")  # held open: the test driver resets on last close
    for n, (a, b) in enumerate(((8, 9), (10, 11))):
        conn.createXML(PINNED.format(n=n, a=a, b=b), 0)
    conn.createXML(FLOATING.format(name="floating"), 0)
    conn.defineXML(FLOATING.format(name="floating-off"))  # shut off: it holds its claim too
    policy = ShapePolicy(
        shared_cpus=frozenset(range(8)),
        dedicated_cpus=frozenset(range(8, 16)),
        reserved_pages=(ReservedPages(1, 8192, 1000),),
        host_ip="192.0.2.5",
    )
    audit("test-default", "test:///default", policy)
    conn.close()
    with tempfile.TemporaryDirectory() as directory:
        from resource_tracker.audit import device_spec
        from tests.support import device_specs, hosts

        uri = hosts.render("devices.xml", directory, EXTRA="")
        specs = device_spec.parse(device_specs.DEVICES_HOST)
        audit("devices-host", uri, ShapePolicy(host_ip="192.0.2.7"), specs)
    if with_libvirtd:
        from tests.support.libvirtd import Libvirtd

        daemon = Libvirtd()
        daemon.start()
        try:
            audit("real-libvirtd", daemon.uri, ShapePolicy(host_ip="192.0.2.6"))
        finally:
            daemon.shutdown()
    database.dispose()


def check(database_path: str) -> int:
    import sqlalchemy
    from nova import context, objects
    from nova.scheduler.host_manager import HostState
    from nova.virt import hardware

    objects.register_all()
    engine = sqlalchemy.create_engine(f"sqlite:///{os.path.abspath(database_path)}")
    with engine.connect() as connection:
        rows = connection.execute(sqlalchemy.text("SELECT * FROM compute_nodes WHERE deleted = 0"))
        rows = [dict(row._mapping) for row in rows]
    engine.dispose()
    if not rows:
        print("no live rows: run the write step first")
        return 1
    for row in rows:
        print(f"== {row['host']} ({row['hypervisor_hostname']})")
        nova_row = row  # every column of Nova's table is ours (revision 0007)
        compute = objects.ComputeNode._from_db_object(
            context.get_admin_context(), objects.ComputeNode(), nova_row
        )
        state = HostState(row["host"], row["hypervisor_hostname"], None)
        state._update_from_compute_node(compute)
        print(
            f"ComputeNode: vcpus {compute.vcpus}, host_ip {compute.host_ip}, stats "
            f"{dict(compute.stats)}, supported_hv_specs "
            f"{[spec.to_list() for spec in compute.supported_hv_specs]}"
        )
        print(
            f"HostState: num_instances {state.num_instances}, num_io_ops {state.num_io_ops}, "
            f"supported_instances {state.supported_instances}, host_ip {state.host_ip}"
        )
        if not _pci_pools_fit(compute, state):
            return 1
        cpu_info = json.loads(compute.cpu_info)
        keys = {"arch", "model", "vendor", "topology", "features"}
        if not keys <= set(cpu_info) <= keys | {"maxphysaddr"}:
            print(f"MISMATCH cpu_info keys {sorted(cpu_info)}")
            return 1
        print(
            f"cpu_info: {cpu_info['arch']} {cpu_info['model']} {cpu_info['vendor']} "
            f"{cpu_info['topology']}, {len(cpu_info['features'])} features, "
            f"maxphysaddr {cpu_info.get('maxphysaddr')}"
        )
        if not row["numa_topology"]:
            print("numa_topology: NULL (no cells), HostState.numa_topology", state.numa_topology)
            continue
        topology = objects.NUMATopology.obj_from_db_obj(row["numa_topology"])
        if _unordered(json.loads(topology._to_json())) != _unordered(
            json.loads(row["numa_topology"])
        ):
            print("MISMATCH: Nova serializes the loaded topology differently")
            print(topology._to_json())
            return 1
        print(
            "numa_topology: loaded; Nova's own serialization of it equals ours (but for the "
            "order of nova_object.changes, a set in Nova)"
        )
        for cell in topology.cells:
            pages = ", ".join(
                f"{p.size_kb}K {p.used}/{p.total} r{p.reserved} free_kb {p.free_kb}"
                for p in cell.mempages
            )
            print(
                f"  cell {cell.id} socket {cell.socket}: cpuset {sorted(cell.cpuset)} pcpuset "
                f"{sorted(cell.pcpuset)} pinned {sorted(cell.pinned_cpus)} avail_pcpus "
                f"{cell.avail_pcpus} siblings {[sorted(s) for s in cell.siblings]} memory "
                f"{cell.memory_usage}/{cell.memory} MiB cpu_usage {cell.cpu_usage}; {pages}"
            )
        for pcpus, memory_mb, page_kb in ((4, 512, 8), (7, 512, 8), (2, 512, 1048576)):
            wanted = objects.InstanceNUMATopology(
                cells=[
                    objects.InstanceNUMACell(
                        id=0,
                        cpuset=set(),
                        pcpuset=set(range(pcpus)),
                        memory=memory_mb,
                        pagesize=page_kb,
                        cpu_policy="dedicated",
                    )
                ]
            )
            fitted = hardware.numa_fit_instance_to_host(topology, wanted, None)
            where = (
                f"fits in cell {fitted.cells[0].id}, pinned to "
                f"{sorted(fitted.cells[0].cpu_pinning.values())}"
                if fitted
                else "does not fit"
            )
            print(
                f"  Nova's fit of {pcpus} pinned vCPUs, {memory_mb} MiB in {page_kb} KiB pages: "
                f"{where}"
            )
    print("OK: every row loads with Nova's objects")
    return 0


def _pci_pools_fit(compute, state) -> bool:
    """The row's pci_stats as ComputeNode and HostState hold them; where there are pools, one
    VF of physnet1 fits and three do not (the device host has one such VF free)."""
    from nova import objects

    pools = compute.pci_device_pools
    free = sum(pool.count for pool in pools)
    print(f"pci_stats: {len(pools)} pool(s), {free} free device(s) as HostState.pci_stats")
    if not pools:
        return True
    spec = {"vendor_id": "8086", "product_id": "10ed", "physical_network": "physnet1"}
    for count, expected in ((1, True), (3, False)):
        request = objects.InstancePCIRequest(
            count=count, spec=[spec], request_id=str(uuid.uuid4())
        )
        answer = state.pci_stats.support_requests([request], provider_mapping=None)
        print(f"  Nova's scheduler: {count} x {spec}: {'fits' if answer else 'does not fit'}")
        if answer != expected:
            print("MISMATCH: expected", expected)
            return False
    return True


def _unordered(primitive):
    """`primitive` with each nova_object.changes list sorted (Nova builds them from sets)."""
    if isinstance(primitive, dict):
        return {
            key: sorted(value) if key == "nova_object.changes" else _unordered(value)
            for key, value in primitive.items()
        }
    if isinstance(primitive, list):
        return [_unordered(value) for value in primitive]
    return primitive


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    write_parser = commands.add_parser("write", help="audit into a SQLite file (our venv)")
    write_parser.add_argument("database")
    write_parser.add_argument("--libvirtd", action="store_true", help="also a real libvirtd")
    commands.add_parser(
        "check", help="load the rows with Nova's objects (nova's venv)"
    ).add_argument("database")
    args = parser.parse_args()
    if args.command == "write":
        write(args.database, args.libvirtd)
        return 0
    return check(args.database)


if __name__ == "__main__":
    sys.exit(main())
