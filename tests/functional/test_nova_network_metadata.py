"""numa_topology's network_metadata against Nova 34's own: the same config file read by our
options and by Nova's (nova/conf/neutron.py, its dynamic [neutron_physnet_<name>] groups),
Nova's `LibvirtDriver._get_host_numa_topology` on the capabilities of the same libvirt test
driver host (test:///default: two NUMA cells), and our row's numa_topology loaded by Nova's
`NUMATopology.obj_from_db_obj`."""

from __future__ import annotations

import libvirt
import pytest

from resource_tracker import conf as rt_conf
from resource_tracker.audit.tracker import HostPolicy, compute_node_values
from resource_tracker.conf import neutron
from resource_tracker.exception import ConfigError
from resource_tracker.virt.disk import FileStorage
from resource_tracker.virt.libvirt.connection import LibvirtConnection
from resource_tracker.virt.libvirt.driver import LibvirtDriver
from tests.support import nova

SCRIPT = r"""
import json, sys, types
payload = json.load(sys.stdin)
import nova.conf
from nova import objects
from nova.virt.libvirt import config, driver
objects.register_all()
CONF = nova.conf.CONF
CONF(["--config-file", payload["config_file"]], project="nova", default_config_files=[])
nova.conf.neutron.register_dynamic_opts(CONF)

caps = config.LibvirtConfigCaps()
caps.parse_str(payload["capabilities"])
cpus = {cpu.id for cell in caps.host.topology.cells for cpu in cell.cpus}
fake = types.SimpleNamespace(
    _host=types.SimpleNamespace(get_capabilities=lambda: caps),
    _has_numa_support=lambda: True,
    _get_vcpu_available=lambda: cpus,
    _get_pcpu_available=lambda: set(),
    _reserved_hugepages={},
)
def networks(topology):
    return [[cell.id, sorted(cell.network_metadata.physnets), cell.network_metadata.tunneled]
            for cell in topology.cells]
print(json.dumps({
    "nova": networks(driver.LibvirtDriver._get_host_numa_topology(fake)),
    "ours": networks(objects.NUMATopology.obj_from_db_obj(payload["numa_topology"])),
}))
"""

CONFIG = """[neutron]
physnets = foo, bar, baz
[neutron_physnet_foo]
numa_nodes = 0
[neutron_physnet_bar]
numa_nodes = 0, 1
[neutron_physnet_baz]
numa_nodes = 1
[neutron_tunnel]
numa_nodes = 1
"""


def our_conf(path):
    conf = rt_conf.make_config()
    rt_conf.load(conf, ["--config-file", str(path)])
    return conf


URI = "test:///default"


def numa_topology(tmp_path, config_file) -> str:
    held = libvirt.open(URI)  # test:///default's state lives while a connection is open
    driver = LibvirtDriver(LibvirtConnection(URI), FileStorage(str(tmp_path)))
    try:
        resources = driver.get_host_resources()
    finally:
        driver.close()
        held.close()
    networks = neutron.affinity(our_conf(config_file))
    return compute_node_values(resources, HostPolicy(), networks=networks).numa_topology


def test_network_metadata_is_what_novas_driver_builds_from_the_same_options(tmp_path):
    config_file = tmp_path / "networks.conf"
    config_file.write_text(CONFIG)
    conn = libvirt.openReadOnly(URI)
    try:
        capabilities = conn.getCapabilities()
    finally:
        conn.close()
    payload = {
        "config_file": str(config_file),
        "capabilities": capabilities,
        "numa_topology": numa_topology(tmp_path, config_file),
    }

    result = nova.run(SCRIPT, payload)

    assert result["ours"] == result["nova"]
    assert result["ours"] == [[0, ["bar", "foo"], False], [1, ["bar", "baz"], True]]


def test_a_node_the_host_does_not_have_fails_the_audit_naming_the_option(tmp_path):
    config_file = tmp_path / "networks.conf"
    config_file.write_text(CONFIG.replace("numa_nodes = 1\n", "numa_nodes = 3\n", 1))
    with pytest.raises(ConfigError, match=r"\[neutron_physnet_baz\] numa_nodes: node 3 is not"):
        numa_topology(tmp_path, config_file)


def test_a_physnet_without_numa_nodes_stops_start_up(tmp_path):
    config_file = tmp_path / "networks.conf"
    config_file.write_text("[neutron]\nphysnets = foo\n")

    with pytest.raises(ConfigError, match=r"\[neutron_physnet_foo\] numa_nodes is not set"):
        our_conf(config_file)
