"""[DEFAULT] nova_config_file with small nova.conf files written here (the real, generated
nova.conf is tests/functional/test_nova_conf.py's): what is read, and what is refused."""

from __future__ import annotations

import pytest

from resource_tracker import conf as rt_conf
from resource_tracker.conf import default, nova
from resource_tracker.conf.opts import list_opts
from resource_tracker.exception import ConfigError


def load(tmp_path, nova_text: str, ours: str = ""):
    (tmp_path / "nova.conf").write_text(nova_text)
    path = tmp_path / "resource-tracker.conf"
    path.write_text(f"[DEFAULT]\nnova_config_file = {tmp_path}/nova.conf\n{ours}")
    conf = rt_conf.make_config()
    rt_conf.load(conf, ["--config-file", str(path)])
    return conf


def refusal(tmp_path, nova_text: str, ours: str = "") -> str:
    with pytest.raises(ConfigError) as refused:
        load(tmp_path, nova_text, ours)
    return str(refused.value)


def test_every_option_is_either_shared_or_not():
    """A new option fails here until it is put in SHARED or NOT_SHARED, with its reason."""
    ours = {(group, opt.dest) for group, opts in list_opts() for opt in opts}
    shared = {(each.group, each.name) for each in nova.SHARED if each.group != nova.PHYSNET}

    assert shared.isdisjoint(nova.NOT_SHARED)
    assert shared | set(nova.NOT_SHARED) == ours


def test_without_nova_config_file_nothing_changes(tmp_path):
    (tmp_path / "resource-tracker.conf").write_text("[DEFAULT]\n")
    conf = rt_conf.make_config()
    rt_conf.load(conf, ["--config-file", str(tmp_path / "resource-tracker.conf")])

    assert conf.instances_path == default.LIBVIRT_IMAGES  # our own default


def test_values_resolve_in_novas_context(tmp_path):
    conf = load(
        tmp_path,
        "[DEFAULT]\nstate_path = /srv/nova\ninstances_path = $state_path/disks\n"
        'host = cost$$center\npci_passthrough_whitelist = {"vendor_id": "8086"}\n'
        "[libvirt]\nvirt_type = qemu\n",
        ours="state_path = /srv/ours\n",
    )

    assert (conf.instances_path, conf.state_path) == ("/srv/nova/disks", "/srv/ours")
    assert conf.host == "cost$center"  # Nova's $$ is a literal $, not ours to resolve again
    assert conf.pci.device_spec == ['{"vendor_id": "8086"}']  # Nova's older name
    assert conf.libvirt.connection_uri == "qemu:///system"


def test_nova_sections_and_options_we_do_not_know_are_ignored(tmp_path):
    conf = load(
        tmp_path,
        "[DEFAULT]\ncompute_driver = libvirt.LibvirtDriver\nreserved_host_cpus = 2\n"
        "[api]\nauth_strategy = keystone\n[database]\nconnection = mysql+pymysql://n@db/nova\n",
    )

    assert conf.reserved_host_cpus == 2
    assert conf.database.connection.startswith("sqlite:///")


@pytest.mark.parametrize(
    ("nova_text", "ours", "message"),
    [
        (None, "", "[DEFAULT] nova_config_file: cannot read {tmp}/nova.conf: "
         "No such file or directory"),
        ("[DEFAULT\nhost = x\n", "",
         "[DEFAULT] nova_config_file: at {tmp}/nova.conf:1, Invalid section"),
        ("[DEFAULT]\nreserved_host_cpus = many\n", "",
         "[DEFAULT] reserved_host_cpus: invalid value 'many' in {tmp}/nova.conf: "),
        ("[DEFAULT]\ninstances_path = $pybasedir/instances\n", "",
         "[DEFAULT] instances_path in {tmp}/nova.conf: its $references name an option this "
         "daemon does not read from nova.conf"),
        ("[DEFAULT]\ninitial_cpu_allocation_ratio = 5000\n", "",
         "[DEFAULT] cpu_allocation_ratio in {tmp}/nova.conf: initial_cpu_allocation_ratio = "
         "5000.0: "),
        ("[libvirt]\nvirt_type = lxc\n", "",
         "[libvirt] virt_type = lxc in nova.conf: only kvm and qemu hosts are audited"),
        ("[libvirt]\nimages_type = lvm\n", "",
         "[libvirt] images_volume_group: required with images_type = lvm (the volume group "
         "that holds the instance disks) (with the options shared with nova-compute read "
         "from {tmp}/nova.conf)"),
        ("[DEFAULT]\nhost = x\n", "[DEFAULT]\nhots = y\n",
         "unknown option [DEFAULT] hots in {tmp}/resource-tracker.conf"),
    ],
    ids=["missing", "unparseable", "bad-value", "nova-only-reference", "initial-ratio", "lxc",
         "together", "typo-in-ours"],
)  # fmt: skip
def test_what_is_refused(tmp_path, nova_text, ours, message):
    if nova_text is None:
        path = tmp_path / "resource-tracker.conf"
        path.write_text(f"[DEFAULT]\nnova_config_file = {tmp_path}/nova.conf\n")
        conf = rt_conf.make_config()
        with pytest.raises(ConfigError) as refused:
            rt_conf.load(conf, ["--config-file", str(path)])
        error = str(refused.value)
    else:
        error = refusal(tmp_path, nova_text, ours.replace("[DEFAULT]\n", ""))

    assert error.startswith(message.format(tmp=tmp_path)), error
