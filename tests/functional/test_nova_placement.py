"""Our provider against Nova 34's own code (tests/support/nova.py): its libvirt driver's
update_provider_tree driven on the same test host (libvirt-python lent to Nova's venv on
PYTHONPATH), the CPU feature traits (nova.virt.libvirt.utils.cpu_features_to_traits) and the
allocation ratio rule (nova.virt.driver.ComputeDriver._get_allocation_ratios, with
*_allocation_ratio and initial_*_allocation_ratio set in Nova's CONF)."""

from __future__ import annotations

import dataclasses
import shutil
import uuid
from pathlib import Path

import pytest

from resource_tracker.audit.pci_providers import STANDARD_CLASSES
from resource_tracker.audit.provider import (
    ProviderPolicy,
    cpu_feature_traits,
    cpu_traits,
    provider_tree,
)
from resource_tracker.audit.tpm_traits import TPM, Vtpm
from resource_tracker.cmd import daemon, load_config, open_database
from resource_tracker.placement.records import Inventory, ProviderReport
from resource_tracker.placement.sync import wanted_inventories
from resource_tracker.virt.libvirt import domain_capabilities
from tests.support import hosts, nova

CAPABILITIES = Path(__file__).parent.parent / "fixtures" / "capabilities"
NOVAS_ROOT = "00000000-0000-4000-8000-000000000001"  # the root's uuid in UPDATE_PROVIDER_TREE

UPDATE_PROVIDER_TREE = """
import json, sys
args = json.load(sys.stdin)
from nova import conf, objects
objects.register_all()
CONF = conf.CONF
CONF([], project="nova", default_config_files=[])
CONF.set_override("connection_uri", args["uri"], group="libvirt")
CONF.set_override("virt_type", args.get("virt_type", "kvm"), group="libvirt")
CONF.set_override("images_type", args.get("images_type", "default"), group="libvirt")
CONF.set_override("force_raw_images", args.get("force_raw_images", True))
CONF.set_override("image_type_exclude_list", args.get("exclude", []), group="compute")
CONF.set_override("instances_path", args["instances"])
CONF.set_override("reserved_host_disk_mb", args["reserved_disk_mb"])
CONF.set_override("cpu_shared_set", args["shared"], group="compute")
CONF.set_override("enabled_mdev_types", args.get("mdev_types", []), group="devices")
CONF.set_override("swtpm_enabled", args.get("swtpm", False), group="libvirt")
CONF.set_override("swtpm_user", "root", group="libvirt")  # one every host has
CONF.set_override("swtpm_group", "root", group="libvirt")
from nova.compute import provider_tree
from nova.virt import fake
from nova.virt.libvirt import driver
nova_driver = driver.LibvirtDriver(fake.FakeVirtAPI(), read_only=True)
# images_type has made the driver's image type capabilities; the disk is measured on files
# (no volume group or Ceph here)
CONF.set_override("images_type", "default", group="libvirt")
if args.get("domain_caps"):
    # the domain capabilities libvirt's test driver lacks, from our fixture, for an x86_64
    # host (the test driver's is i686); and the kvm_amd module's sev parameter, which this
    # machine (no AMD SEV) cannot have
    from nova.virt.libvirt import config
    nova_driver._host.get_capabilities().host.cpu.arch = "x86_64"
    by_machine = {}
    for machine, xml in args["domain_caps"].items():
        by_machine[machine] = config.LibvirtConfigDomainCaps()
        by_machine[machine].parse_str(xml)
    nova_driver._host._domain_caps = {"x86_64": by_machine}
    kvm_amd = args.get("kvm_amd", ["sev"])
    nova_driver._host._kernel_supports_amd_sev = lambda model="sev": (
        model.replace("-", "_") in kvm_amd)
if args.get("qemu_version"):
    # the QEMU version Nova compares with (SEV-ES needs 8.0), where the test driver says 2
    version, has_min_version = args["qemu_version"], nova_driver._host.has_min_version
    def qemu_at_least(lv_ver=None, hv_ver=None, hv_type=None):
        if hv_ver is None:
            return has_min_version(lv_ver, hv_ver, hv_type)
        qemu = (version // 1000000, version // 1000 % 1000, version % 1000)
        return tuple(hv_ver) <= qemu and has_min_version(lv_ver, None, hv_type)
    nova_driver._host.has_min_version = qemu_at_least
tree = provider_tree.ProviderTree()
tree.new_root("node", "00000000-0000-4000-8000-000000000001")
nova_driver.update_provider_tree(tree, "node")
data = tree.data("node")
children, child_traits = {}, {}
for uuid in tree.get_provider_uuids("node")[1:]:
    child = tree.data(uuid)
    children[child.name] = child.inventory
    child_traits[child.name] = sorted(child.traits)
from nova import exception
try:
    nova_driver._check_vtpm_support()  # what init_host checks: Nova's compute starts or not
    starts = True
except exception.InvalidConfiguration:
    starts = False
# the compute manager's capability traits (init_host's _update_host_specific_capabilities,
# then _get_traits, with its rule for remote managed ports and the traits it always adds)
nova_driver._update_host_specific_capabilities()
traits = set(data.traits) | {"COMPUTE_NODE", "OWNER_NOVA"}
for trait, on in nova_driver.capabilities_as_traits().items():
    if trait == "COMPUTE_REMOTE_MANAGED_PORTS":
        on = on and args.get("remote_managed_pools", False)
    (traits.add if on else traits.discard)(trait)
found = {"inventory": data.inventory, "traits": sorted(traits), "children": children,
         "child_traits": child_traits, "starts": starts}
print(json.dumps(found))
"""


def differing(traits) -> set[str]:
    """The traits that differ on purpose: OWNER_NOVA (Nova marks its providers; this is not
    Nova) and COMPUTE_ARCH_* (Nova's come from the architectures libvirt gives domain
    capabilities for: none on the test driver, the injected one below; ours from the
    capabilities' guests, which the test driver has)."""
    return {t for t in traits if t == "OWNER_NOVA" or t.startswith("COMPUTE_ARCH_")}


TRAITS = """
import json, sys
from nova.virt.libvirt import utils
print(json.dumps([sorted(t for t, on in utils.cpu_features_to_traits(set(features)).items() if on)
                  for features in json.load(sys.stdin)]))
"""

RATIOS = """
import json, sys
from nova import conf
from nova.virt import driver
CONF = conf.CONF
CONF([], project="nova", default_config_files=[])
answers = []
for case in json.load(sys.stdin):
    for kind in ("cpu", "ram", "disk"):
        CONF.set_override(f"{kind}_allocation_ratio", case["conf"].get(kind))
        CONF.set_override(f"initial_{kind}_allocation_ratio", case["initial"][kind])
    answers.append(driver.ComputeDriver._get_allocation_ratios(case["inventory"]))
print(json.dumps(answers))
"""

FEATURE_SETS = [
    sorted(cpu_feature_traits()),
    ["sse", "sse2", "svm", "vmx", "avx512-vpopcntdq", "sha-ni", "not-a-feature"],
    [],
]


def test_cpu_feature_traits_are_novas():

    ours = [sorted(cpu_traits() & _traits_of(features)) for features in FEATURE_SETS]
    assert nova.run(TRAITS, FEATURE_SETS) == ours


def _traits_of(features) -> set[str]:
    return {t for f in features for t in cpu_feature_traits().get(f, ())}


CLASSES = {"cpu": "VCPU", "ram": "MEMORY_MB", "disk": "DISK_GB"}


RATIO_CASES = [  # ours configured, and the ratios already in Placement
    ({}, {}),  # a new provider: the initial ratios
    ({}, {"VCPU": 16.0, "MEMORY_MB": 1.5}),  # an operator's ratios in Placement kept
    ({"cpu": 2.0}, {"VCPU": 16.0, "DISK_GB": 3.0}),  # ours configured: it wins
]


def test_allocation_ratios_follow_novas_rule():
    initial = {"cpu": 4.0, "ram": 1.0, "disk": 1.0}
    cases = [
        {
            "conf": conf,
            "initial": initial,
            "inventory": {rc: {"allocation_ratio": ratio} for rc, ratio in placed.items()},
        }
        for conf, placed in RATIO_CASES
    ]
    novas = nova.run(RATIOS, cases)

    for case, theirs in zip(cases, novas, strict=True):
        conf = case["conf"]
        report = ProviderReport(
            uuid="u",
            name="n",
            inventories=tuple(
                Inventory(rc, 10, 0, 1, 10, 1, conf.get(kind, initial[kind]))
                for kind, rc in CLASSES.items()
            ),
            traits=frozenset(),
            owned_traits=frozenset(),
            explicit_ratios=frozenset(CLASSES[kind] for kind in conf),
        )
        ours = wanted_inventories(report, case["inventory"])
        assert {rc: fields["allocation_ratio"] for rc, fields in ours.items()} == theirs


def audited(path: str):
    """One audit of the host `path` configures, as the daemon makes it; and its conf."""
    conf = load_config(["--config-file", path])
    database = open_database(conf)
    daemon.prepare_schema(database)
    driver = daemon.libvirt_driver(conf)
    try:
        return conf, daemon.resource_tracker(conf, driver, database).audit(
            daemon.host_policy(conf)
        )
    finally:
        driver.close()
        database.dispose()


SHARED = "0,2,4"


def lend_libvirt(directory: Path) -> str:
    """A directory holding our libvirt-python, for Nova's venv (which has none)."""
    import libvirt
    import libvirtmod

    for module in (libvirt, libvirtmod):
        shutil.copy2(module.__file__, directory)
    return str(directory)


def audited_mixed(config):
    """An audit of the mixed host with 100 MB of disk reserved. The test driver's CPU map is
    made up (CPUs 0, 2, 4 of 8, whatever the host file says): Nova counts it, ours the
    capabilities; naming the shared CPUs makes both count them."""
    path = config(extra="reserved_host_disk_mb = 100")
    with open(path, "a") as conf_file:
        conf_file.write(f"[compute]\ncpu_shared_set = {SHARED}\n")
    return audited(path)[1]


def novas_tree(mixed_host, tmp_path, **extra) -> dict:
    """Nova's update_provider_tree on the mixed host configured as audited_mixed()'s."""
    lent = tmp_path / "libvirt-lent"
    lent.mkdir()
    payload = {
        "uri": mixed_host.uri,
        "instances": str(mixed_host.instances),
        "reserved_disk_mb": 100,
        "shared": SHARED,
        **extra,
    }
    return nova.run_with(UPDATE_PROVIDER_TREE, payload, {"PYTHONPATH": lend_libvirt(lent)})


def test_update_provider_tree_of_nova_gives_our_inventories_and_traits(
    mixed_host, config, tmp_path
):
    result = audited_mixed(config)
    ours = provider_tree("u", result.resources, result.values, ProviderPolicy()).root
    novas = novas_tree(mixed_host, tmp_path)

    assert {i.resource_class: i.as_placement() for i in ours.inventories} == novas["inventory"]
    theirs = set(novas["traits"])
    assert theirs - differing(theirs) == ours.traits - differing(ours.traits)
    assert {"COMPUTE_IMAGE_TYPE_QCOW2", "COMPUTE_NET_VIF_MODEL_VIRTIO"} <= ours.traits
    assert not {t for t in theirs if t.startswith(("COMPUTE_SECURITY_TPM", "COMPUTE_MEM_"))}


NOVA_SETTINGS = [  # Nova's options, as ours has them in the [libvirt] section, and others
    {"virt_type": "qemu", "images_type": "rbd", "force_raw_images": False, "exclude": ["iso"]},
    {"virt_type": "lxc", "images_type": "lvm", "exclude": ["raw", "aki"]},
    {"virt_type": "parallels", "images_type": "qcow2", "force_raw_images": True},
]


@pytest.mark.parametrize("settings", NOVA_SETTINGS)
def test_novas_image_type_and_model_traits_follow_its_options(
    settings, mixed_host, config, tmp_path
):
    result = audited_mixed(config)
    path = tmp_path / "options.conf"
    path.write_text(
        f"[DEFAULT]\nforce_raw_images = {settings.get('force_raw_images', True)}\n"
        f"[libvirt]\nvirt_type = {settings['virt_type']}\n"
        f"images_type = {settings['images_type']}\n"
        + ("images_volume_group = instances\n" if settings["images_type"] == "lvm" else "")
        + f"[compute]\nimage_type_exclude_list = {','.join(settings.get('exclude', []))}\n"
    )
    policy = daemon.provider_policy(load_config(["--config-file", str(path)]))
    tree = provider_tree("u", result.resources, result.values, policy)
    novas = novas_tree(mixed_host, tmp_path, **settings)

    theirs = set(novas["traits"])
    assert theirs - differing(theirs) == tree.root.traits - differing(tree.root.traits)


def test_novas_vgpu_children_are_ours(tmp_path):
    uri = hosts.render("devices.xml", tmp_path, EXTRA="")
    path = tmp_path / "rt.conf"
    path.write_text(
        f"[DEFAULT]\nhost = compute-1\nstate_path = {tmp_path}\ninstances_path = {tmp_path}\n"
        f"[libvirt]\nconnection_uri = {uri}\n[compute]\ncpu_shared_set = {SHARED}\n"
        "[devices]\nenabled_mdev_types = nvidia-222\n"
    )
    conf, result = audited(str(path))
    policy = daemon.provider_policy(conf)
    tree = provider_tree(str(uuid.uuid4()), result.resources, result.values, policy, None,
                         result.devices)  # fmt: skip
    lent = tmp_path / "libvirt-lent"
    lent.mkdir()
    payload = {
        "uri": uri,
        "instances": str(tmp_path),
        "reserved_disk_mb": 0,
        "shared": SHARED,
        "mdev_types": ["nvidia-222"],
    }
    novas = nova.run_with(UPDATE_PROVIDER_TREE, payload, {"PYTHONPATH": lend_libvirt(lent)})

    ours = {
        child.name.replace(result.values.hypervisor_hostname, "node", 1): {
            i.resource_class: i.as_placement() for i in child.inventories
        }
        for child in tree.children
    }
    assert ours == novas["children"] and ours


def test_standard_resource_classes_are_placements():
    standards = nova.run(
        "import json, os_resource_classes as o; print(json.dumps(sorted(o.STANDARDS)))", None
    )
    assert set(standards) == STANDARD_CLASSES


QEMU_8 = 8_002_000  # QEMU 8.2.0: SEV-ES needs 8.0
QEMU_7 = 7_002_000
DOMAIN_CAPABILITIES_CASES = {  # machines, kvm_amd's parameters on, QEMU, swtpm_enabled
    "qemu": ({"pc": "domain-qemu-x86_64.xml", "q35": "domain-qemu-q35-x86_64.xml"}, (),
             QEMU_8, False),
    "sev, vTPM": ({"pc": "domain-kvm-sev-x86_64.xml"}, ("sev",), QEMU_8, True),
    "sev-es": ({"pc": "domain-kvm-sev-x86_64.xml"}, ("sev", "sev_es"), QEMU_8, False),
    "sev-es, QEMU 7": ({"pc": "domain-kvm-sev-x86_64.xml"}, ("sev", "sev_es"), QEMU_7, False),
    "sev-snp, vTPM 2.0 CRB": ({"pc": "domain-kvm-sev-snp-x86_64.xml"},
                              ("sev", "sev_es", "sev_snp"), QEMU_8, True),
    "sev off in kvm_amd": ({"pc": "domain-kvm-sev-x86_64.xml"}, (), QEMU_8, False),
}  # fmt: skip


@pytest.mark.parametrize("case", DOMAIN_CAPABILITIES_CASES)
def test_novas_traits_and_mem_encryption_children_from_domain_capabilities_are_ours(
    case, mixed_host, config, tmp_path
):
    machines, kvm_amd, qemu, swtpm = DOMAIN_CAPABILITIES_CASES[case]
    xml = {machine: (CAPABILITIES / name).read_text() for machine, name in machines.items()}
    result = audited_mixed(config)
    features = domain_capabilities.merged([domain_capabilities.parse(x) for x in xml.values()])
    resources = dataclasses.replace(
        result.resources,
        guest_features=dataclasses.replace(features, kvm_amd=frozenset(kvm_amd)),
        cpu_info=dataclasses.replace(result.resources.cpu_info, arch="x86_64"),
        hypervisor_version=qemu,
    )
    policy = ProviderPolicy(vtpm=Vtpm(enabled=swtpm))
    tree = provider_tree(NOVAS_ROOT, resources, result.values, policy)
    novas = novas_tree(
        mixed_host, tmp_path, domain_caps=xml, kvm_amd=kvm_amd, qemu_version=qemu, swtpm=swtpm
    )

    assert novas["starts"]
    theirs = set(novas["traits"])
    ours = tree.root.traits
    assert theirs - differing(theirs) == ours - differing(ours)
    assert "COMPUTE_VIOMMU_MODEL_INTEL" in ours
    assert {t for t in ours if t.startswith(("COMPUTE_STORAGE_BUS_", "COMPUTE_GRAPHICS_"))}
    assert swtpm == any(t.startswith("COMPUTE_SECURITY_TPM_") for t in ours)
    children = {
        child.name.replace(result.values.hypervisor_hostname, "node", 1): (
            {i.resource_class: i.as_placement() for i in child.inventories},
            sorted(child.traits | {"OWNER_NOVA"}),  # Nova marks its children; we are not Nova
        )
        for child in tree.children
    }
    assert children == {
        name: (inventory, novas["child_traits"][name])
        for name, inventory in novas["children"].items()
    }
    assert bool(children) == ("sev" in kvm_amd)


def test_swtpm_enabled_without_libvirts_emulator_nova_does_not_start_we_report_none(
    mixed_host, config, tmp_path
):
    """The domain capabilities of this machine's libvirtd without swtpm (the qemu fixture:
    a TPM with the passthrough backend only): Nova's compute refuses to start."""
    xml = {"pc": (CAPABILITIES / "domain-qemu-x86_64.xml").read_text()}
    result = audited_mixed(config)
    features = domain_capabilities.parse(xml["pc"])
    resources = dataclasses.replace(result.resources, guest_features=features)
    tree = provider_tree(NOVAS_ROOT, resources, result.values, ProviderPolicy(vtpm=Vtpm(True)))

    assert not novas_tree(mixed_host, tmp_path, domain_caps=xml, swtpm=True)["starts"]
    assert not any(t.startswith("COMPUTE_SECURITY_TPM_") for t in tree.root.traits)
    assert tree.root.owned_traits >= TPM  # removed where someone set them
