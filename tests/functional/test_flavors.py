"""The Nova flavors of a host's domains, as Nova 34 writes them into the domain XML (its own
config classes, tests/support/nova_domains.py) on libvirt's test driver: the audit keeps them
in the last-audit record, `nodes show` lists them, and `capacity --flavor` sizes VMs by them
as Nova's placement request would (DISK_GB from Nova's own resources_from_flavor_and_bfv)."""

from __future__ import annotations

import json
import os
import subprocess

import libvirt
import pytest

from resource_tracker.audit.last_audit import FILE_NAME, LastAuditFile
from resource_tracker.audit.tracker import HostPolicy, ResourceTracker
from resource_tracker.virt.disk import FileStorage
from resource_tracker.virt.libvirt.connection import LibvirtConnection
from resource_tracker.virt.libvirt.driver import LibvirtDriver
from tests.support import nova
from tests.support.nova_domains import NovaGuest, domain_xml
from tests.support.paths import BIN

PROJECT = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
SMALL = {"flavor": "m1.small", "vcpus": 1, "memory_mb": 2048, "disk_gb": 20}
LARGE = {"flavor": "m1.large", "vcpus": 4, "memory_mb": 8192, "disk_gb": 40}
GUESTS = (
    NovaGuest("instance-1", "11111111-1f7e-4d0a-9a2b-0e8e6f1a2b3c", PROJECT, **SMALL),
    NovaGuest("instance-2", "22222222-1f7e-4d0a-9a2b-0e8e6f1a2b3c", PROJECT, **SMALL),
    NovaGuest("instance-3", "33333333-1f7e-4d0a-9a2b-0e8e6f1a2b3c", PROJECT, **SMALL),
    NovaGuest(
        "instance-4",
        "44444444-1f7e-4d0a-9a2b-0e8e6f1a2b3c",
        PROJECT,
        ephemeral_gb=10,
        swap_mb=1536,  # 1.5 GiB: placement asks 2 GB for it
        **LARGE,
    ),
)

# Nova's placement request for a flavor (not boot-from-volume)
NOVA_RESOURCES = """
import json, sys
from nova import objects
from nova.scheduler import utils
objects.register_all()
f = json.load(sys.stdin)
flavor = objects.Flavor(name=f["flavor"], vcpus=f["vcpus"], memory_mb=f["memory_mb"],
    root_gb=f["disk_gb"], ephemeral_gb=f["ephemeral_gb"], swap=f["swap_mb"], extra_specs={})
print(json.dumps(utils.resources_from_flavor_and_bfv(flavor, False)))
"""


@pytest.fixture
def audited(sqlite_database, sqlite_url, tmp_path):
    """A test-driver host with Nova's domains beside the driver's own `test`, one audit
    recorded; returns a resource-tracker-manage config for it."""
    conn = libvirt.open("test:///default")  # held open: the test driver resets on last close
    try:
        for xml in domain_xml(*GUESTS):
            conn.defineXML(xml).create()
        driver = LibvirtDriver(LibvirtConnection("test:///default"), FileStorage(str(tmp_path)))
        record = LastAuditFile(str(tmp_path / FILE_NAME))
        roomy = HostPolicy(ram_allocation_ratio=16.0)  # the test host has 3 GiB: room for more
        ResourceTracker("compute-1", driver, sqlite_database, record).audit(roomy)
        driver.close()
    finally:
        conn.close()
    conf = tmp_path / "manage.conf"
    conf.write_text(
        f"[DEFAULT]\nhost = compute-1\nstate_path = {tmp_path}\n"
        f"[database]\nconnection = {sqlite_url}\n"
    )
    return str(conf)


def manage(conf: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [os.path.join(BIN, "resource-tracker-manage"), "--config-file", conf, *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_nodes_show_lists_the_flavors_of_the_last_audit(audited):
    text = manage(audited, "nodes", "show")
    as_json = manage(audited, "nodes", "show", "--format", "json")

    assert text.returncode == 0, text.stderr
    assert (
        "flavors: m1.large x1 (4 vCPUs, 8192 MiB, 52 GiB = 40 root + 10 ephemeral"
        " + 1536 MiB swap), m1.small x3 (1 vCPU, 2048 MiB, 20 GiB);"
        " 1 domain without Nova's flavor metadata" in text.stdout.splitlines()
    )
    (node,) = json.loads(as_json.stdout)
    assert node["last_audit"]["flavors"] == [
        {
            "name": "m1.large",
            "vcpus": 4,
            "memory_mb": 8192,
            "disk_gb": 40,
            "ephemeral_gb": 10,
            "swap_mb": 1536,
            "domains": 1,
        },
        {
            "name": "m1.small",
            "vcpus": 1,
            "memory_mb": 2048,
            "disk_gb": 20,
            "ephemeral_gb": 0,
            "swap_mb": 0,
            "domains": 3,
        },
    ]
    assert node["last_audit"]["domains_without_flavor"] == 1  # the test driver's own `test`


@pytest.mark.parametrize("guest", [GUESTS[0], GUESTS[3]], ids=["m1.small", "m1.large"])
def test_capacity_by_flavor_answers_as_its_sizes_would(audited, guest):
    novas = nova.run(NOVA_RESOURCES, {**vars(guest)})
    sizes = ("--vcpus", str(novas["VCPU"]), "--ram", str(novas["MEMORY_MB"]))
    sizes += ("--disk", str(novas["DISK_GB"]))

    by_name = manage(audited, "capacity", "--flavor", guest.flavor, "--format", "json")
    by_size = manage(audited, "capacity", *sizes, "--format", "json")
    text = manage(audited, "capacity", "--flavor", guest.flavor)

    assert by_name.returncode == 0, by_name.stderr
    named, sized = json.loads(by_name.stdout), json.loads(by_size.stdout)
    assert named["flavor"] == {"name": guest.flavor} | sized["flavor"]
    assert (named["hosts"], named["fleet"]) == (sized["hosts"], sized["fleet"])
    answer = named["hosts"][0]
    if guest.memory_mb <= 3072:  # the test host's memory: MEMORY_MB's max_unit
        assert answer["fits"] > 0 and not answer["never"], named
    else:
        assert answer["never"] and answer["limited_by"] == (
            f"RAM (MEMORY_MB): needs {guest.memory_mb}; host has 3072 (max_unit)"
        )
    assert text.stdout.splitlines()[-1].startswith(
        f"fleet: {named['fleet']} more VMs of {guest.flavor}: {novas['VCPU']} vCPUs, "
        f"{novas['MEMORY_MB']} MiB RAM, {novas['DISK_GB']} GiB disk"
    )


def assert_one_line_error(result, status: int, *fragments: str) -> None:
    assert result.returncode == status
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr


def test_capacity_of_an_unknown_flavor_is_one_line_naming_the_known_ones(audited):
    result = manage(audited, "capacity", "--flavor", "m1.tiny")

    assert_one_line_error(result, 1, "--flavor m1.tiny", "flavors seen: m1.large, m1.small")


def test_capacity_refuses_a_flavor_with_sizes(audited):
    result = manage(audited, "capacity", "--flavor", "m1.small", "--disk", "40")
    neither = manage(audited, "capacity", "--ram", "8G")

    assert_one_line_error(result, 2, "--flavor m1.small", "drop --disk")
    assert_one_line_error(neither, 2, "give --flavor NAME, or --vcpus and --ram")


def test_capacity_by_flavor_without_a_record_says_where_it_looked(audited, tmp_path):
    (tmp_path / FILE_NAME).unlink()

    result = manage(audited, "capacity", "--flavor", "m1.small")

    assert_one_line_error(result, 1, f"no last audit of compute-1 in {tmp_path / FILE_NAME}")
