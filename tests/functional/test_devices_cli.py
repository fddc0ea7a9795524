"""Devices as operators meet them: [pci] device_spec at start-up, the daemon's metrics,
`devices list` and `nodes show`, on SQLite and MariaDB."""

from __future__ import annotations

import json

import pytest

from tests.functional.test_cli import assert_one_line_error, run
from tests.functional.test_daemon import samples, scrape
from tests.functional.test_manage import manage
from tests.support import hosts
from tests.support.daemon import Daemon
from tests.support.device_specs import DEVICES_HOST
from tests.support.mariadb import free_port
from tests.support.waiting import wait_for

SRIOV_VM = "a0000000-0000-4000-8000-000000000001"


def write_config(tmp_path, database: str, specs=DEVICES_HOST, option="device_spec", extra=""):
    uri = hosts.render("devices.xml", tmp_path, EXTRA="")
    spec_lines = "".join(f"{option} = {spec}\n" for spec in specs)
    path = tmp_path / "resource-tracker.conf"
    path.write_text(
        f"[DEFAULT]\nhost = compute-1\nstate_path = {tmp_path}\ninstances_path = {tmp_path}\n"
        f"periodic_fuzzy_delay = 0\n{extra}\n[libvirt]\nconnection_uri = {uri}\n"
        f"[database]\nconnection = {database}\n[pci]\n{spec_lines}"
    )
    return str(path)


@pytest.fixture
def audited(tmp_path, db_url):
    conf = write_config(tmp_path, db_url)
    assert run("resource-tracker-manage", "--config-file", conf, "db", "sync").returncode == 0
    once = run("resource-tracker", "--config-file", conf, "--once")
    assert once.returncode == 0, once.stderr
    return conf


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ('{"vendor_id": "80861"}', "vendor_id '80861' is out of range"),
        ('{"address": "0000:81:00.9"}', "address function '9' is out of range"),
        ('{"vendor_id": "8086"', "not JSON"),
        ('{"devname": "eth0"}', "devname is not supported here"),
    ],
)
def test_a_malformed_device_spec_stops_start_up_with_one_line(tmp_path, sqlite_url, entry, says):
    conf = write_config(tmp_path, sqlite_url, [DEVICES_HOST[0], entry])

    once = run("resource-tracker", "--config-file", conf, "--once")
    daemon = run("resource-tracker", "--config-file", conf)

    for result in (once, daemon):
        assert_one_line_error(result, f"[pci] device_spec: entry {entry}: {says}")
        assert result.returncode == 2


def test_passthrough_whitelist_is_read_as_device_spec(tmp_path, sqlite_url):
    conf = write_config(tmp_path, sqlite_url, option="passthrough_whitelist")
    run("resource-tracker-manage", "--config-file", conf, "db", "sync")

    assert run("resource-tracker", "--config-file", conf, "--once").returncode == 0

    listed = json.loads(manage(conf, "devices", "list", "--format", "json").stdout)
    assert len(listed) == 7


def test_devices_list(audited):
    table = manage(audited, "devices", "list")
    as_json = json.loads(
        manage(audited, "devices", "list", "compute-1", "--format", "json").stdout
    )

    assert table.returncode == 0, table.stderr
    header, *rows = table.stdout.splitlines()
    assert header.split() == ["HOST", "ADDRESS", "KIND", "ID", "NUMA", "STATE", "DOMAIN", "PF"]
    by_address = {row.split()[1]: row.split() for row in rows}
    assert by_address["0000:81:10.0"] == [
        "compute-1", "0000:81:10.0", "VF", "8086:10ed", "1", "allocated", SRIOV_VM,
        "0000:81:00.0",
    ]  # fmt: skip
    assert by_address["0000:81:00.0"][2:6] == ["PF", "8086:10fb", "1", "unavailable"]
    assert by_address["0000:d8:00.0"][2:7] == ["PCI", "144d:a808", "1", "available", "-"]
    assert len(rows) == 7
    vf = next(entry for entry in as_json if entry["address"] == "0000:81:10.2")
    assert (vf["host"], vf["status"], vf["numa_node"], vf["dev_type"]) == (
        "compute-1",
        "available",
        1,
        "type-VF",
    )
    assert vf["extra_info"]["parent_ifname"] == "ens1f0"
    unknown = manage(audited, "devices", "list", "compute-9")
    assert (unknown.returncode, unknown.stdout) == (1, "")  # as nodes show says of it
    assert unknown.stderr == "resource-tracker-manage: no compute node for host compute-9\n"


def test_nodes_show_pools_and_vgpu_capacity(audited):
    text = manage(audited, "nodes", "show").stdout
    (entry,) = json.loads(manage(audited, "nodes", "show", "--format", "json").stdout)

    assert "pci_stats: 3 pool(s), 3 free device(s)" in text
    pool_lines = [line.split() for line in text.splitlines() if line.startswith("144d:a808")]
    assert [line[:3] for line in pool_lines] == [["144d:a808", "0", "1"], ["144d:a808", "1", "1"]]
    (vgpu,) = [line.split() for line in text.splitlines() if line.startswith("0000:3b:00.0")]
    assert vgpu == ["0000:3b:00.0", "nvidia-222", "GRID", "T4-4Q", "2", "2", "3", "1", "1"]
    assert "orphaned mdevs (no domain names them): 6d42f2a2-3d76" in text
    assert entry["pci_stats"]["nova_object.name"] == "PciDevicePoolList"
    assert entry["mdev_capacity"][0]["free"] == 2


def test_the_daemon_reports_devices_as_metrics_and_reads_them_once(tmp_path, sqlite_url):
    port = free_port()
    extra = f"update_resources_interval = 1\ndebug = true\n[metrics]\nlisten = {port}"
    conf = write_config(tmp_path, sqlite_url, extra=extra)  # debug: every audit's line
    run("resource-tracker-manage", "--config-file", conf, "db", "sync")
    daemon = Daemon(conf)
    try:
        assert daemon.wait_for_log(r"audit: compute-1", times=4), daemon.log
        metrics = samples(scrape(port)[1])
    finally:
        daemon.stop()

    offered = {
        (key.split("status=")[1].split("}")[0], key.split("dev_type=")[1].split("}")[0]): value
        for key, value in metrics.items()
        if key.startswith("resource_tracker_pci_devices{")
    }
    assert offered == {
        ("allocated", "type-VF"): 2,  # one by a shut-off domain
        ("available", "type-VF"): 1,
        ("unavailable", "type-PF"): 1,
        ("allocated", "type-PCI"): 1,
        ("available", "type-PCI"): 2,
    }
    assert metrics["resource_tracker_mdev_instances_available{type=nvidia-222}"] == 2
    assert metrics["resource_tracker_mdev_instances_used{type=nvidia-222}"] == 2
    # 4 audits or more, and the 14 node devices were read by the first alone
    assert metrics["resource_tracker_node_device_xml_reads_total"] == 14
    assert wait_for(lambda: daemon.process.poll() is not None, timeout_s=5)


def test_devices_list_all_shows_every_device_and_why_one_is_not_offered(tmp_path, sqlite_url):
    specs = [*DEVICES_HOST, '{"vendor_id": "10de", "address": "0000:3c:00.0"}']
    conf = write_config(tmp_path, sqlite_url, specs=specs)
    # no db sync, no audit: --all reads libvirt now, not the table

    table = manage(conf, "devices", "list", "--all")
    listed = json.loads(manage(conf, "devices", "list", "--all", "--format", "json").stdout)

    assert table.returncode == 0, table.stderr
    by_address = {entry["address"]: entry for entry in listed}
    assert len(by_address) == 9  # every PCI function, offered or not
    assert (
        by_address["0000:00:17.0"]["offered"],
        by_address["0000:00:17.0"]["why_not_offered"],
    ) == (
        False,
        "no device_spec entry matches",
    )  # the SATA controller
    assert by_address["0000:3b:00.0"]["why_not_offered"] == (
        "no device_spec entry matches (entry 4 has its ids, not its address)"
    )  # the GPU: the operator's entry names 3c:00.0
    vf = by_address["0000:81:10.4"]
    assert (vf["offered"], vf["status"], vf["instance_uuid"]) == (
        True,
        "allocated",
        "a0000000-0000-4000-8000-000000000004",
    )
    assert by_address["0000:81:10.2"]["parent_ifname"] == "ens1f0"
    rows = {line.split()[0]: line for line in table.stdout.splitlines()[1:]}
    assert table.stderr.startswith("every PCI device of compute-1 (libvirt at ")
    assert rows["0000:00:17.0"].endswith("no: no device_spec entry matches")
    assert rows["0000:d8:00.0"].split()[-1] == "yes"


def test_devices_list_all_is_for_this_host_only(tmp_path, sqlite_url):
    conf = write_config(tmp_path, sqlite_url)

    result = manage(conf, "devices", "list", "--all", "compute-2")

    assert result.returncode == 1
    assert_one_line_error(result, "reads this host's libvirt (compute-1): run it on compute-2")
