"""[DEFAULT] nova_config_file against a real nova.conf: the file Nova 34's own
`oslo-config-generator --namespace nova.conf` writes (every option, every section of Nova's),
with some options set, as an operator's nova-compute host has it."""

from __future__ import annotations

import json
import os

import pytest

from resource_tracker import conf as rt_conf
from resource_tracker.cmd import daemon
from resource_tracker.conf import nova as nova_conf
from resource_tracker.exception import ConfigError
from tests.functional.test_cli import assert_one_line_error, run
from tests.support import nova

NOVA_DB = "mysql+pymysql://nova:secret@nova-db.example.org/nova"


@pytest.fixture(scope="module")
def sample() -> str:
    return nova.sample_config()


def write(tmp_path, sample: str, options: dict, ours: str = "", extra: str = "") -> str:
    nova_path = tmp_path / "nova.conf"
    nova_path.write_text(nova.with_options(sample, options) + extra)
    path = tmp_path / "resource-tracker.conf"
    path.write_text(
        f"[DEFAULT]\nnova_config_file = {nova_path}\nstate_path = {tmp_path}/ours\n{ours}"
    )
    return str(path)


def load(path: str):
    conf = rt_conf.make_config()
    rt_conf.load(conf, ["--config-file", path])
    return conf


NOVA_OPTIONS = {
    ("DEFAULT", "host"): "nova-compute-7",
    ("DEFAULT", "state_path"): "/srv/nova",
    ("DEFAULT", "reserved_host_memory_mb"): "4096",
    ("DEFAULT", "reserved_host_disk_mb"): "10240",
    ("DEFAULT", "initial_cpu_allocation_ratio"): "8.0",
    ("DEFAULT", "ram_allocation_ratio"): "1.5",
    ("DEFAULT", "reserved_huge_pages"): "node:0,size:2048,count:64",
    ("compute", "cpu_shared_set"): "0-3",
    ("compute", "cpu_dedicated_set"): "6-11",
    ("libvirt", "images_type"): "qcow2",
    ("libvirt", "virt_type"): "kvm",
    ("pci", "device_spec"): '{"vendor_id": "8086", "product_id": "154d"}',
    ("neutron", "physnets"): "physnet1",
    # Nova's own, unknown to us, in sections we know and sections we do not
    ("DEFAULT", "compute_driver"): "libvirt.LibvirtDriver",
    ("libvirt", "cpu_mode"): "host-passthrough",
    ("api", "config_drive_skip_versions"): "1.0",
    ("database", "connection"): NOVA_DB,
    ("metrics", "weight_multiplier"): "2.0",  # Nova's [metrics] is not ours
}
PHYSNETS = "\n[neutron_physnet_physnet1]\nnuma_nodes = 1\n[neutron_tunnel]\nnuma_nodes = 0\n"


def test_shared_options_follow_nova_conf(tmp_path, sample):
    conf = load(write(tmp_path, sample, NOVA_OPTIONS, extra=PHYSNETS))

    assert conf.host == "nova-compute-7"
    assert conf.instances_path == "/srv/nova/instances"  # Nova's $state_path, not ours
    assert conf.state_path == f"{tmp_path}/ours"
    assert (conf.reserved_host_memory_mb, conf.reserved_host_disk_mb) == (4096, 10240)
    assert (conf.cpu_allocation_ratio, conf.ram_allocation_ratio) == (8.0, 1.5)
    assert conf.disk_allocation_ratio == 1.0
    assert conf.reserved_huge_pages == ["node:0,size:2048,count:64"]
    assert (conf.compute.cpu_shared_set, conf.compute.cpu_dedicated_set) == ("0-3", "6-11")
    assert conf.libvirt.images_type == "qcow2"
    assert conf.libvirt.connection_uri == "qemu:///system"  # from virt_type, as Nova
    assert conf.pci.device_spec == ['{"vendor_id": "8086", "product_id": "154d"}']
    assert conf.neutron.physnets == ["physnet1"]
    assert conf.neutron_physnet_physnet1.numa_nodes == [1]
    assert conf.neutron_tunnel.numa_nodes == [0]
    # Nova's [database] is Nova's own database
    assert conf.database.connection == f"sqlite:///{tmp_path}/ours/resource_tracker.sqlite"


def test_our_file_overrides_nova_conf(tmp_path, sample):
    ours = (
        "host = ours-7\ninstances_path = /srv/disks\nreserved_host_memory_mb = 512\n"
        "cpu_allocation_ratio = 2.0\n[compute]\ncpu_shared_set = 0-5\n"
        "[neutron_physnet_physnet1]\nnuma_nodes = 0\n"
    )
    conf = load(write(tmp_path, sample, NOVA_OPTIONS, ours=ours, extra=PHYSNETS))

    assert (conf.host, conf.instances_path) == ("ours-7", "/srv/disks")
    assert (conf.reserved_host_memory_mb, conf.cpu_allocation_ratio) == (512, 2.0)
    assert (conf.compute.cpu_shared_set, conf.compute.cpu_dedicated_set) == ("0-5", "6-11")
    assert conf.neutron_physnet_physnet1.numa_nodes == [0]  # a physnet nova.conf names


def test_nova_defaults_count_where_nova_conf_is_silent(tmp_path, sample):
    conf = load(write(tmp_path, sample, {}))

    assert conf.instances_path == "/var/lib/nova/instances"
    assert (conf.cpu_allocation_ratio, conf.ram_allocation_ratio) == (4.0, 1.0)
    assert conf.libvirt.connection_uri == "qemu:///system"
    assert conf.database.connection == f"sqlite:///{tmp_path}/ours/resource_tracker.sqlite"


def test_a_typo_in_our_file_is_still_refused(tmp_path, sample):
    path = write(tmp_path, sample, NOVA_OPTIONS, ours="reserved_host_memroy_mb = 1\n")

    with pytest.raises(ConfigError) as refused:
        load(path)

    assert str(refused.value) == f"unknown option [DEFAULT] reserved_host_memroy_mb in {path}"


def test_a_shared_value_ours_refuses_names_nova_conf(tmp_path, sample):
    path = write(tmp_path, sample, {("libvirt", "images_type"): "ploop"})

    with pytest.raises(ConfigError) as refused:
        load(path)

    assert str(refused.value).startswith(
        f"[libvirt] images_type: invalid value 'ploop' in {tmp_path}/nova.conf: "
    )


def test_nova_conf_as_our_config_file_says_what_to_do(tmp_path, sample):
    (tmp_path / "nova.conf").write_text(sample)

    result = run("resource-tracker", "--config-file", str(tmp_path / "nova.conf"), "--once")

    assert_one_line_error(
        result, f"unknown section [api] in {tmp_path}/nova.conf: ", "nova_config_file"
    )


def test_sighup_reads_nova_conf_again(tmp_path, sample):
    path = write(tmp_path, sample, NOVA_OPTIONS, extra=PHYSNETS)
    argv = ["--config-file", path]
    running = load(path)
    options = {**NOVA_OPTIONS, ("DEFAULT", "reserved_host_memory_mb"): "8192"}
    (tmp_path / "nova.conf").write_text(nova.with_options(sample, options) + PHYSNETS)

    reloaded = daemon.reload_config(running, argv)

    assert (running.reserved_host_memory_mb, reloaded.reserved_host_memory_mb) == (4096, 8192)
    (tmp_path / "nova.conf").write_text("[DEFAULT]\nreserved_host_memory_mb = lots\n")
    with pytest.raises(ConfigError, match=r"^\[DEFAULT\] reserved_host_memory_mb: invalid"):
        daemon.reload_config(running, argv)  # the daemon logs it and keeps `running`


def test_once_writes_the_row_nova_conf_describes(tmp_path, sample, mixed_host, sqlite_url):
    options = {
        ("DEFAULT", "host"): "nova-compute-7",
        ("DEFAULT", "state_path"): str(tmp_path),  # instances_path: $state_path/instances
        ("DEFAULT", "my_ip"): "192.0.2.7",
        ("compute", "cpu_shared_set"): "0-3",
        ("compute", "cpu_dedicated_set"): "6-11",
        ("libvirt", "connection_uri"): mixed_host.uri,
        ("database", "connection"): NOVA_DB,
    }
    assert mixed_host.instances == tmp_path / "instances"
    conf = write(
        tmp_path,
        sample,
        options,
        ours=f"periodic_fuzzy_delay = 0\n[database]\nconnection = {sqlite_url}\n",
    )
    os.makedirs(tmp_path / "ours")

    result = run("resource-tracker", "--config-file", conf, "--once")
    shown = run("resource-tracker-manage", "--config-file", conf, "nodes", "show", "--format",
                "json")  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("nova-compute-7: ")
    (node,) = json.loads(shown.stdout)
    stat = os.statvfs(mixed_host.instances)
    assert (node["host"], node["host_ip"]) == ("nova-compute-7", "192.0.2.7")
    assert (node["vcpus"], node["pcpus"]) == (4, 6)
    assert node["local_gb"] == stat.f_frsize * stat.f_blocks // 2**30


DEFAULTS_SCRIPT = """
import json, sys
import nova.conf
from nova.conf import neutron
CONF = nova.conf.CONF
CONF([], project="nova", default_config_files=[])
neutron.register_dynamic_opts(CONF)
out = {}
for group, name in json.load(sys.stdin):
    opts = CONF._opts if group == "DEFAULT" else getattr(CONF._groups.get(group), "_opts", {})
    out[f"{group} {name}"] = opts[name]["opt"].default if name in opts else "MISSING"
print(json.dumps(out))
"""


def test_the_shared_table_matches_nova_34():
    """Every shared option is Nova 34's, and where the table says Nova's default is ours, it
    is: a new Nova release that changes one fails here."""
    names = [
        (each.group, each.name) for each in nova_conf.SHARED if each.group != nova_conf.PHYSNET
    ]
    helpers = [("DEFAULT", f"initial_{kind}_allocation_ratio") for kind in ("cpu", "ram", "disk")]
    helpers += [("DEFAULT", "state_path"), ("libvirt", "virt_type")]
    novas = nova.run(DEFAULTS_SCRIPT, names + helpers + list(nova_conf.NOT_SHARED))
    ours = {(group, opt.dest): opt.default for group, opts in rt_conf._opts.list_opts()
            for opt in opts}  # fmt: skip

    # debug is oslo.log's, registered by nova's service code, not by nova.conf
    assert sorted(name for name, default in novas.items() if default == "MISSING") == [
        "DEFAULT debug",
        "DEFAULT nova_config_file",
        "DEFAULT update_resources_on_events",
        "capacity flavors_file",
        "libvirt domain_cache_refresh_audits",
        "libvirt read_domain_capabilities",
        "metrics listen",
        "placement refresh_audits",
        "placement report",
    ]
    for each in nova_conf.SHARED:
        if each.group != nova_conf.PHYSNET and each.nova_default.startswith("as ours"):
            nova_default = novas[f"{each.group} {each.name}"]
            assert (nova_default or None) == (ours[(each.group, each.name)] or None), each
    assert novas["DEFAULT instances_path"] == "$state_path/instances"
    assert novas["DEFAULT state_path"] == "$pybasedir"
    assert novas["libvirt connection_uri"] == ""
    assert novas["libvirt virt_type"] == "kvm"
    for kind in ("cpu", "ram", "disk"):
        assert novas[f"DEFAULT {kind}_allocation_ratio"] is None
        assert (
            novas[f"DEFAULT initial_{kind}_allocation_ratio"]
            == ours[("DEFAULT", f"{kind}_allocation_ratio")]
        )
