"""The host's provider in a real Placement service (tests/support/placement.py): what it
holds after an audit, write-on-change, the ratio rule, generation conflicts, and faults that
cost the report but never the row."""

from __future__ import annotations

import dataclasses
import json
import logging
import signal
import sqlite3
import time
from contextlib import closing

import pytest

from resource_tracker.audit.drift import ORPHAN, OVER, UNALLOCATED
from resource_tracker.audit.provider import provider_tree
from resource_tracker.cmd import daemon, load_config, open_database
from resource_tracker.daemon.metrics import Metrics
from resource_tracker.placement.client import PlacementClient
from resource_tracker.placement.tree import TreeSync
from resource_tracker.virt.libvirt import domain_capabilities
from tests.functional.test_cli import assert_one_line_error, run
from tests.functional.test_daemon import AUDITED_ANY
from tests.functional.test_nova_placement import CAPABILITIES
from tests.support import hosts
from tests.support import placement as placement_support
from tests.support.daemon import Daemon
from tests.support.device_specs import DEVICES_HOST
from tests.support.libvirtd import domain_xml
from tests.support.placement_api import PlacementApi, allocate
from tests.support.waiting import wait_for

CPU_FEATURE = {"sse4.2": "HW_CPU_X86_SSE42", "avx2": "HW_CPU_X86_AVX2", "aes": "HW_CPU_X86_AESNI"}


@pytest.fixture
def api(placement_server):
    placement = PlacementApi(placement_server.url)
    placement.wipe()  # every test starts from an empty Placement; the server is shared
    return placement


class Host:
    """A tracker of the mixed test host, built as the daemon builds it."""

    def __init__(
        self, config, sqlite_url, url: str, extra: str = "", placement: str = "", uri=None
    ):
        self.path = path = config(extra=extra, **({"uri": uri} if uri else {}))
        with open(path, "a") as conf_file:
            conf_file.write(placement or placement_support.config(url))
        self.conf = load_config(["--config-file", path])
        self.database = open_database(self.conf)
        daemon.prepare_schema(self.database)
        self.driver = daemon.libvirt_driver(self.conf)
        self.tracker = daemon.resource_tracker(self.conf, self.driver, self.database)
        self.sqlite_path = sqlite_url.removeprefix("sqlite:///")

    def audit(self):
        return self.tracker.audit(daemon.host_policy(self.conf))

    def row(self) -> dict:
        with closing(sqlite3.connect(self.sqlite_path)) as connection:
            connection.row_factory = sqlite3.Row
            node = connection.execute("SELECT * FROM compute_nodes WHERE deleted = 0").fetchone()
            beats = connection.execute("SELECT report_count FROM services").fetchone()[0]
        return dict(node) | {"report_count": beats}

    def close(self):
        self.driver.close()
        self.database.dispose()


@pytest.fixture
def make_host(config, sqlite_url, placement_server):
    made = []

    def make(**kwargs) -> Host:
        host = Host(config, sqlite_url, placement_server.url, **kwargs)
        made.append(host)
        return host

    yield make
    for host in made:
        host.close()


def provider(api: PlacementApi, uuid: str) -> dict:
    base = f"/resource_providers/{uuid}"
    return {
        "provider": api.get(base),
        "inventories": api.get(f"{base}/inventories")["inventories"],
        "traits": set(api.get(f"{base}/traits")["traits"]),
    }


def test_the_provider_tree_is_read_back_from_placement(api, make_host):
    host = make_host(extra="reserved_host_disk_mb = 500\nreserved_host_cpus = 1")
    result = host.audit()
    row = host.row()
    assert result.placement is not None and result.placement.failure is None
    found = provider(api, row["uuid"])
    values = result.values

    assert found["provider"]["name"] == row["hypervisor_hostname"]
    inventories = found["inventories"]
    assert set(inventories) == {"VCPU", "MEMORY_MB", "DISK_GB"}  # no dedicated CPUs: no PCPU
    assert inventories["VCPU"] == {
        "total": values.vcpus,
        "reserved": 1,
        "min_unit": 1,
        "max_unit": values.vcpus,
        "step_size": 1,
        "allocation_ratio": 4.0,
    }
    assert inventories["MEMORY_MB"]["total"] == row["memory_mb"]
    assert inventories["MEMORY_MB"]["reserved"] == 512
    assert inventories["DISK_GB"]["total"] == row["local_gb"]
    assert inventories["DISK_GB"]["reserved"] == 1  # 500 MB, rounded up to whole GB
    traits = found["traits"]
    features = set(result.resources.cpu_info.features)
    for feature, trait in CPU_FEATURE.items():
        assert (trait in traits) == (feature in features)
    assert {"COMPUTE_NODE", f"HW_ARCH_{result.resources.cpu_info.arch.upper()}"} <= traits

    candidates = api.get("/allocation_candidates", resources="VCPU:2,MEMORY_MB:1024", limit="5")
    assert row["uuid"] in candidates["provider_summaries"]
    too_big = api.get("/allocation_candidates", resources=f"VCPU:{values.vcpus * 4}")
    assert row["uuid"] not in too_big["provider_summaries"]


def test_an_idle_host_sends_nothing_but_a_generation_check(api, make_host):
    host = make_host(placement=placement_support.config(api.url) + "refresh_audits = 3\n")
    first = host.audit().placement
    counts = [host.audit().placement.requests for _ in range(6)]
    assert first.requests >= 4 and first.wrote  # read, create, write inventories and traits
    assert counts == [0, 0, 1, 0, 0, 1]


def test_a_ratio_set_in_placement_is_kept_unless_ours_is_configured(api, make_host):
    host = make_host(placement=placement_support.config(api.url) + "refresh_audits = 2\n")
    host.audit()
    uuid = host.row()["uuid"]
    base = f"/resource_providers/{uuid}"
    inventory = api.get(f"{base}/inventories")
    inventory["inventories"]["VCPU"]["allocation_ratio"] = 8.0
    assert api.put(f"{base}/inventories", inventory).status_code == 200
    assert api.add_traits(uuid, "CUSTOM_X").status_code == 200
    host.audit()  # the generation check: someone else changed it; nothing of ours to write
    kept = provider(api, uuid)
    assert kept["inventories"]["VCPU"]["allocation_ratio"] == 8.0
    assert "CUSTOM_X" in kept["traits"] and "COMPUTE_NODE" in kept["traits"]
    host.close()

    explicit = make_host(extra="cpu_allocation_ratio = 2.0")
    explicit.audit()
    assert provider(api, uuid)["inventories"]["VCPU"]["allocation_ratio"] == 2.0


def test_a_second_writer_causes_a_retry_that_converges(api, make_host):
    host = make_host()
    host.audit()
    uuid = host.row()["uuid"]
    assert api.add_traits(uuid, "CUSTOM_OTHER_WRITER").status_code == 200  # generation moves
    host.conf.set_override("reserved_host_memory_mb", 2048)

    outcome = host.audit().placement

    assert outcome.conflicts == 1 and outcome.failure is None and outcome.wrote
    found = provider(api, uuid)
    assert found["inventories"]["MEMORY_MB"]["reserved"] == 2048
    assert "CUSTOM_OTHER_WRITER" in found["traits"]


@pytest.fixture
def front(placement_server):
    faulty = placement_support.FaultyPlacement(placement_server.url)
    faulty.start()
    yield faulty
    faulty.stop()


def quick_sync(host: Host, call_s: float, refresh_audits: int = 10) -> None:
    """The host's reporter with a shorter per-request limit, so a stall costs a second."""
    client = PlacementClient(daemon.placement_conf.adapter(host.conf), call_s)
    host.tracker._placement = TreeSync(client, refresh_audits)


@pytest.mark.parametrize("fault", ["stopped", "500", "stall"])
def test_placement_faults_cost_the_report_never_the_row(api, make_host, front, fault, caplog):
    host = make_host(placement=placement_support.config(front.url))
    quick_sync(host, call_s=1.0)
    assert host.audit().placement.failure is None
    if fault == "stopped":
        front.stop()
    else:
        front.mode = fault
    caplog.set_level(logging.INFO, logger="resource_tracker.placement")
    host.conf.set_override("reserved_host_memory_mb", 1024)  # a change to report
    counts, kinds = [], []
    for _ in range(3):
        before = host.row()["report_count"]
        result = host.audit()
        counts.append(host.row()["report_count"] - before)
        kinds.append(result.placement.failure)
    assert counts == [1, 1, 1]  # the heartbeat and the row, every audit
    assert host.row()["memory_mb_used"] == 1024 + result.resources.memory_held_bytes // 2**20
    expected = {"stopped": "unreachable", "500": "server error", "stall": "timeout"}[fault]
    assert kinds == [expected] * 3
    warnings = [
        r
        for r in caplog.records
        if r.levelno == logging.WARNING and r.name.startswith("resource_tracker.placement")
    ]
    assert len(warnings) == 1 and expected in warnings[0].getMessage()

    if fault == "stopped":
        front.start()
    front.mode = "forward"
    recovered = host.audit().placement
    assert recovered.failure is None and recovered.wrote
    uuid = host.row()["uuid"]
    assert provider(api, uuid)["inventories"]["MEMORY_MB"]["reserved"] == 1024
    assert any("in step again" in r.getMessage() for r in caplog.records)


def test_wrong_credentials_are_said_once(api, make_host, caplog):
    host = make_host(placement=placement_support.config(api.url, token="not-admin"))
    caplog.set_level(logging.WARNING, logger="resource_tracker.placement")
    metrics = Metrics()
    results = [host.audit() for _ in range(3)]
    for result in results:
        metrics.audit_succeeded(result, 60)
    kinds = [result.placement.failure for result in results]
    assert kinds == ["credentials refused"] * 3
    failed = metrics.registry.get_sample_value(
        "resource_tracker_placement_reports_failed_total", {"kind": "credentials refused"}
    )
    assert failed == 3
    assert metrics.registry.get_sample_value("resource_tracker_placement_requests_total") == 3
    assert host.row()["report_count"] == 3
    assert len([r for r in caplog.records if r.name.startswith("resource_tracker.placement")]) == 1
    assert api.get("/resource_providers")["resource_providers"] == []


def test_the_daemon_once_reports_the_row_as_its_provider(api, config):
    path = config()
    with open(path, "a") as conf_file:
        conf_file.write(placement_support.config(api.url))

    result = run("resource-tracker", "--config-file", path, "--once")

    assert result.returncode == 0, result.stderr
    providers = api.get("/resource_providers")["resource_providers"]
    assert len(providers) == 1
    found = provider(api, providers[0]["uuid"])
    assert {"VCPU", "MEMORY_MB"} <= set(found["inventories"])


def test_placement_options_that_cannot_be_used_stop_start_up_with_one_line(config):
    """The cases: tests/unit/conf/test_conf_placement.py; here, how the command says it."""
    path = config()
    with open(path, "a") as conf_file:
        conf_file.write("[placement]\nreport = true\nauth_type = nonesuch\n")

    result = run("resource-tracker", "--config-file", path, "--once")

    assert result.returncode == 2
    assert_one_line_error(result, "[placement] auth_type = nonesuch")


def test_nova_confs_placement_section_and_ratio_are_used(api, make_host, tmp_path):
    """nova.conf's [placement] reaches the service; its cpu_allocation_ratio, set there, is
    explicit, so it wins over a ratio an operator set in Placement."""
    first = make_host()
    first.audit()
    uuid = first.row()["uuid"]
    inventory = api.get(f"/resource_providers/{uuid}/inventories")
    inventory["inventories"]["VCPU"]["allocation_ratio"] = 8.0
    assert api.put(f"/resource_providers/{uuid}/inventories", inventory).status_code == 200
    first.close()
    nova_conf = tmp_path / "nova.conf"
    nova_conf.write_text(
        "[DEFAULT]\ncpu_allocation_ratio = 3.0\n"
        f"[placement]\nauth_type = admin_token\nendpoint = {api.url}\ntoken = admin\n"
    )

    host = make_host(
        extra=f"nova_config_file = {nova_conf}", placement="[placement]\nreport = true\n"
    )
    assert host.audit().placement.failure is None

    assert provider(api, uuid)["inventories"]["VCPU"]["allocation_ratio"] == 3.0


GUESTS = [  # uuid, vCPUs, MiB: the test driver makes up a uuid per connection where none is set
    ("11111111-0000-4000-8000-000000000001", 2, 1024),
    ("11111111-0000-4000-8000-000000000002", 4, 2048),
    ("11111111-0000-4000-8000-000000000003", 1, 512),
]


def test_drift_between_allocations_and_domains_is_seen_said_once_and_shown(
    api, make_host, caplog, tmp_path
):
    domains = [
        domain_xml(f"vm-{n}", vcpus=cpus, memory_mib=mib, virt_type="test",
                   extra=f"<uuid>{uuid}</uuid>")
        for n, (uuid, cpus, mib) in enumerate(GUESTS)
    ]  # fmt: skip
    host = make_host(
        placement=placement_support.config(api.url) + "refresh_audits = 2\n",
        uri=hosts.write(tmp_path, domains, name="guests.xml"),
    )
    first = host.audit()
    guests = sorted(first.resources.guests, key=lambda guest: guest.uuid)
    assert len(guests) >= 2
    assert {(d.kind, d.consumer) for d in first.drift} == {(UNALLOCATED, g.uuid) for g in guests}
    uuid = host.row()["uuid"]
    fits, small = guests[0], guests[1]
    orphan = "0f0f0f0f-0000-4000-8000-00000000beef"
    allocate(api, fits.uuid, uuid, VCPU=fits.vcpus, MEMORY_MB=fits.memory_bytes // 2**20)
    allocate(api, small.uuid, uuid, VCPU=max(1, small.vcpus - 1), MEMORY_MB=1)
    allocate(api, orphan, uuid, VCPU=1, MEMORY_MB=64)
    caplog.set_level(logging.INFO, logger="resource_tracker.audit.drift")
    caplog.clear()

    host.audit()  # not yet: the generation is read every 2 audits
    second = host.audit()  # the generation moved: provider and allocations read again

    found = {(d.kind, d.consumer) for d in second.drift}
    expected = {(ORPHAN, orphan), (OVER, small.uuid)} | {(UNALLOCATED, g.uuid) for g in guests[2:]}
    assert found == expected
    appeared = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    ended = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert sorted(appeared) == sorted(
        [f"Placement drift: {d.line()}" for d in second.drift if d.kind != UNALLOCATED]
    )
    assert len(ended) == 2  # fits and small are no longer without allocation
    third = host.audit()
    assert third.drift is None and third.placement.requests == 0  # nothing changed, not asked
    assert len(caplog.records) == len(appeared) + len(ended)

    shown = run(
        "resource-tracker-manage", "--config-file", host.path, "placement", "show",
        "--format", "json",
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    view = json.loads(shown.stdout)
    assert view["uuid"] == uuid and view["changes"] == []
    assert {(d["kind"], d["consumer"]) for d in view["drift"]} == expected
    assert set(view["allocations"]) == {fits.uuid, small.uuid, orphan}
    text = run("resource-tracker-manage", "--config-file", host.path, "placement", "show")
    assert (
        f"orphan allocation {orphan}" in text.stdout
        and "differences from this audit: none" in text.stdout
    )


def test_vgpu_and_pci_children_under_the_root(api, make_host, tmp_path):
    uri = hosts.render("devices.xml", tmp_path, EXTRA="")
    specs = "".join(f"device_spec = {spec}\n" for spec in DEVICES_HOST)
    placement = placement_support.config(api.url) + "[devices]\nenabled_mdev_types = nvidia-222\n"
    host = make_host(uri=uri, placement=placement + f"[pci]\n{specs}report_in_placement = true\n")
    result = host.audit()
    assert result.placement.failure is None
    root = host.row()["uuid"]
    (gpu,) = [c for c in result.devices.mdevs if c.type_id == "nvidia-222"]
    tree = api.get("/resource_providers", in_tree=root)["resource_providers"]
    children = {p["name"]: p for p in tree if p["uuid"] != root}
    name = result.values.hypervisor_hostname

    nvmes = [s.device.address for s in result.devices.offered if s.device.vendor_id == "144d"]
    expected = {f"{name}_pci_0000_3b_00_0", f"{name}_0000:81:00.0"}
    assert len(nvmes) == 3
    assert set(children) == expected | {f"{name}_{address.upper()}" for address in nvmes}
    assert {p["parent_provider_uuid"] for p in children.values()} == {root}

    def inventory(child: str) -> dict:
        uuid = children[f"{name}_{child}"]["uuid"]
        return api.get(f"/resource_providers/{uuid}/inventories")["inventories"]

    vgpu = inventory("pci_0000_3b_00_0")["VGPU"]
    assert vgpu["total"] == vgpu["max_unit"] == gpu.existing + gpu.available_instances == 4
    assert inventory("0000:81:00.0")["CUSTOM_NIC"]["total"] == 1
    for address in nvmes:
        assert inventory(address.upper())["CUSTOM_PCI_144D_A808"]["total"] == 1
    nic = children[f"{name}_0000:81:00.0"]["uuid"]
    traits = api.get(f"/resource_providers/{nic}/traits")["traits"]
    assert set(traits) == {"COMPUTE_MANAGED_PCI_DEVICE", "CUSTOM_A", "CUSTOM_B"}
    for resources, child in (("VGPU:1", "pci_0000_3b_00_0"), ("CUSTOM_NIC:1", "0000:81:00.0")):
        candidates = api.get("/allocation_candidates", resources=resources)
        assert children[f"{name}_{child}"]["uuid"] in candidates["provider_summaries"]
    assert host.audit().placement.requests == 0  # the same tree again: nothing sent
    shown = run(
        "resource-tracker-manage", "--config-file", host.path, "placement", "show",
        "--format", "json",
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert {child["name"] for child in json.loads(shown.stdout)["children"]} == set(children)


def test_a_one_time_use_device_held_by_a_domain_is_reserved_and_an_operators_reserve_kept(
    api, make_host, tmp_path
):
    uri = hosts.render("devices.xml", tmp_path, EXTRA="")
    spec = '{"vendor_id": "144d", "product_id": "a808", "one_time_use": true}'
    pci = f"[pci]\ndevice_spec = {spec}\nreport_in_placement = true\n"
    host = make_host(uri=uri, placement=placement_support.config(api.url) + "refresh_audits = 1\n"
                     + pci)  # fmt: skip
    result = host.audit()
    assert result.placement.failure is None
    name, root = result.values.hypervisor_hostname, host.row()["uuid"]
    tree = api.get("/resource_providers", in_tree=root)["resource_providers"]
    uuids = {p["name"][len(name) + 1 :]: p["uuid"] for p in tree if p["uuid"] != root}
    held = {s.device.address.upper() for s in result.devices.offered if s.status == "allocated"}
    assert held == {"0000:5E:00.0"} and set(uuids) == held | {"0000:5F:00.0", "0000:D8:00.0"}

    def reserved(address: str) -> int:
        inventories = api.get(f"/resource_providers/{uuids[address]}/inventories")
        return inventories["inventories"]["CUSTOM_PCI_144D_A808"]["reserved"]

    def reserve(address: str, amount: int) -> None:
        base = f"/resource_providers/{uuids[address]}/inventories"
        inventory = api.get(base)
        inventory["inventories"]["CUSTOM_PCI_144D_A808"]["reserved"] = amount
        assert api.put(base, inventory).status_code == 200

    assert [reserved(a) for a in ("0000:5E:00.0", "0000:5F:00.0")] == [1, 0]
    traits = api.get(f"/resource_providers/{uuids['0000:5F:00.0']}/traits")["traits"]
    assert "HW_PCI_ONE_TIME_USE" in traits
    candidates = api.get("/allocation_candidates", resources="CUSTOM_PCI_144D_A808:1")
    offered = {rp for r in candidates["allocation_requests"] for rp in r["allocations"]}
    assert offered == {uuids["0000:5F:00.0"], uuids["0000:D8:00.0"]}  # 5E: used once
    reserve("0000:5F:00.0", 1)  # an operator's, on a free device: not ours to undo
    reserve("0000:5E:00.0", 0)  # freed while a domain still holds it: reserved again
    assert host.audit().placement.failure is None
    assert [reserved(a) for a in ("0000:5E:00.0", "0000:5F:00.0", "0000:D8:00.0")] == [1, 1, 0]


@pytest.fixture
def started():
    running: list[Daemon] = []

    def start(path: str) -> Daemon:
        running.append(Daemon(path))
        return running[-1]

    yield start
    for each in running:
        each.stop()


def test_the_daemon_keeps_placements_ratio_until_sighup_makes_ours_explicit(api, config, started):
    def write(extra: str = "") -> str:
        # debug: an unchanged audit's line is DEBUG, and the test counts audits by their lines
        path = config(extra="update_resources_interval = 1\ndebug = true\n" + extra)
        with open(path, "a") as conf_file:
            conf_file.write(placement_support.config(api.url) + "refresh_audits = 1\n")
        return path

    tracker = started(write())
    # its first audit line comes after the first report: nothing is written after it
    assert tracker.wait_for_log(AUDITED_ANY, timeout_s=30), tracker.log
    uuid = api.get("/resource_providers")["resource_providers"][0]["uuid"]
    inventory = api.get(f"/resource_providers/{uuid}/inventories")
    inventory["inventories"]["VCPU"]["allocation_ratio"] = 8.0
    assert api.put(f"/resource_providers/{uuid}/inventories", inventory).status_code == 200
    audits = tracker.count(AUDITED_ANY)
    assert tracker.wait_for_log(AUDITED_ANY, times=audits + 2, timeout_s=15), tracker.log

    def ratio() -> float:
        found = api.get(f"/resource_providers/{uuid}/inventories")
        return found["inventories"]["VCPU"]["allocation_ratio"]

    assert ratio() == 8.0  # the operator's, read again every audit, kept
    write("cpu_allocation_ratio = 2.0")
    tracker.signal(signal.SIGHUP)

    assert tracker.wait_for_log(r"configuration reloaded", timeout_s=10), tracker.log
    assert wait_for(lambda: ratio() == 2.0, 15), tracker.log
    assert tracker.count(r"Placement: provider .* not reported") == 0, tracker.log


def test_an_idle_hosts_generation_check_that_fails_is_said_once_and_caught_up(
    api, make_host, front, caplog
):
    host = make_host(placement=placement_support.config(front.url))
    quick_sync(host, 10.0, refresh_audits=1)
    assert host.audit().placement.failure is None
    assert host.audit().placement.requests == 1  # idle: the tree's generations only
    front.mode = "500"
    caplog.set_level(logging.INFO, logger="resource_tracker.placement")

    outcomes = [host.audit().placement for _ in range(3)]
    front.mode = "forward"
    uuid = host.row()["uuid"]
    inventory = api.get(f"/resource_providers/{uuid}/inventories")
    inventory["inventories"]["VCPU"]["reserved"] = 3  # someone changed it meanwhile
    assert api.put(f"/resource_providers/{uuid}/inventories", inventory).status_code == 200
    recovered = host.audit().placement

    assert [o.failure for o in outcomes] == ["server error"] * 3
    assert [o.requests for o in outcomes] == [1, 1, 1]  # the check only: nothing piles up
    warnings = [
        r for r in caplog.records if r.levelno == logging.WARNING and "drift" not in r.name
    ]
    assert len(warnings) == 1 and "server error" in warnings[0].getMessage()
    assert recovered.failure is None and recovered.wrote  # read afresh: ours put back
    found = api.get(f"/resource_providers/{uuid}/inventories")["inventories"]["VCPU"]
    assert found["reserved"] == 0


def test_domain_capabilities_traits_and_sev_child_in_placement(api, make_host):
    """What a host with SEV and secure boot reports (the SEV fixture's domain capabilities:
    libvirt's test driver has none, this machine no SEV), read back from Placement; features
    that become unknown (a read-only connection) remove none of the traits."""
    host = make_host()
    result = host.audit()
    root = host.row()["uuid"]
    resources = dataclasses.replace(
        result.resources, cpu_info=dataclasses.replace(result.resources.cpu_info, arch="x86_64")
    )  # SEV is x86_64's (the test driver's host is i686)
    with open(CAPABILITIES / "domain-kvm-sev-x86_64.xml") as fixture:
        parsed = domain_capabilities.parse(fixture.read())
    features = dataclasses.replace(parsed, kvm_amd=frozenset({"sev"}))  # kvm_amd's sev=Y
    policy = daemon.provider_policy(host.conf)
    sync = TreeSync(PlacementClient(daemon.placement_conf.adapter(host.conf), 10.0))

    def report(guest_features) -> None:
        tree = provider_tree(
            root, dataclasses.replace(resources, guest_features=guest_features), result.values,
            policy,
        )  # fmt: skip
        assert sync.sync(tree, time.monotonic() + 30).failure is None

    report(features)
    traits = provider(api, root)["traits"]
    assert {"COMPUTE_STORAGE_BUS_VIRTIO", "COMPUTE_GRAPHICS_MODEL_VIRTIO"} <= traits
    assert "COMPUTE_SECURITY_UEFI_SECURE_BOOT" in traits
    (child,) = [p for p in api.get("/resource_providers", in_tree=root)["resource_providers"]
                if p["uuid"] != root]  # fmt: skip
    assert child["name"] == f"{result.values.hypervisor_hostname}_amd_sev"
    sev = provider(api, child["uuid"])
    assert sev["inventories"]["MEM_ENCRYPTION_CONTEXT"]["total"] == 15
    assert sev["inventories"]["MEM_ENCRYPTION_CONTEXT"]["max_unit"] == 1
    assert sev["traits"] == {"HW_CPU_X86_AMD_SEV"}
    candidates = api.get("/allocation_candidates", resources="MEM_ENCRYPTION_CONTEXT:1")
    assert child["uuid"] in candidates["provider_summaries"]

    report(None)
    assert provider(api, root)["traits"] == traits
