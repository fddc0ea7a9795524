"""A flavor's extra specs read as Nova reads them, and the flavors file."""

from __future__ import annotations

import json

import pytest

from resource_tracker.audit.fitting import flavors_file
from resource_tracker.audit.fitting.flavor import (
    PAGES_ANY,
    PAGES_LARGE,
    Flavor,
    FlavorError,
    GuestCell,
    parse_aliases,
    request,
)

NIC = '{"name": "nic", "vendor_id": "8086", "product_id": "154d", "device_type": "type-VF"}'


def flavor(vcpus=4, ram_mb=4096, **specs: str) -> Flavor:
    return Flavor(
        vcpus, ram_mb, root_gb=40, ephemeral_gb=10, swap_mb=1536, extra_specs=tuple(specs.items())
    )


def test_a_plain_flavor_asks_vcpus_ram_and_disk_as_placement_counts_them():
    wanted = request(flavor())

    assert (wanted.vcpus, wanted.pcpus, wanted.memory_mb, wanted.disk_gb) == (4, 0, 4096, 52)
    assert wanted.cells is None and wanted.pci == () and wanted.vgpus == 0


def test_dedicated_cpus_ask_pcpus_one_cell_and_the_emulator_its_own():
    wanted = request(
        flavor(**{"hw:cpu_policy": "dedicated", "hw:emulator_threads_policy": "isolate"})
    )

    assert (wanted.vcpus, wanted.pcpus) == (0, 5)
    assert wanted.cells == (GuestCell(0, frozenset(), frozenset(range(4)), 4096),)


def test_mixed_cpus_split_by_the_mask_over_the_cells():
    wanted = request(
        flavor(
            **{"hw:cpu_policy": "mixed", "hw:cpu_dedicated_mask": "^0,^1", "hw:numa_nodes": "2"}
        )
    )

    assert (wanted.vcpus, wanted.pcpus) == (2, 2)
    assert wanted.cells == (
        GuestCell(0, frozenset({0, 1}), frozenset(), 2048),
        GuestCell(1, frozenset(), frozenset({2, 3}), 2048),
    )


def test_cells_given_one_by_one():
    specs = {"hw:numa_nodes": "2", "hw:numa_cpus.0": "0", "hw:numa_mem.0": "1024"}
    wanted = request(flavor(**specs, **{"hw:numa_cpus.1": "1-3", "hw:numa_mem.1": "3072"}))

    assert [(len(c.shared), c.memory_mb) for c in wanted.cells or ()] == [(1, 1024), (3, 3072)]


@pytest.mark.parametrize(
    ("value", "size"),
    [("1GB", 1048576), ("2M", 2048), ("2048", 2048), ("large", PAGES_LARGE), ("any", PAGES_ANY)],
)
def test_page_sizes(value, size):
    wanted = request(flavor(**{"hw:mem_page_size": value}))

    assert wanted.page_size == size and wanted.cells is not None


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        ({"hw:cpu_polcy": "dedicated"}, "unknown extra spec 'hw:cpu_polcy'"),
        ({"trait:HW_CPU_X86_AVX2": "required"}, "unknown extra spec 'trait:HW_CPU_X86_AVX2'"),
        (
            {"hw:cpu_policy": "pinned"},
            "hw:cpu_policy='pinned': not one of shared, dedicated, mixed",
        ),
        (
            {"hw:cpu_thread_policy": "isolate"},
            "hw:cpu_thread_policy needs hw:cpu_policy dedicated",
        ),
        ({"hw:cpu_policy": "mixed"}, "hw:cpu_policy=mixed needs hw:cpu_dedicated_mask"),
        ({"hw:cpu_policy": "mixed", "hw:cpu_dedicated_mask": "0-3"}, "must name some, not all"),
        ({"hw:numa_nodes": "3"}, "do not divide into hw:numa_nodes=3"),
        ({"hw:numa_nodes": "2", "hw:numa_cpus.0": "0-3"}, "must both be given"),
        ({"hw:mem_page_size": "huge"}, "small, large, any or a size"),
        ({"pci_passthrough:alias": "gpu:1"}, "PCI alias 'gpu' is not in [pci] alias"),
        ({"resources:VGPU": "zero"}, "resources:VGPU='zero': not a positive whole number"),
    ],
)
def test_what_nova_would_refuse_or_we_cannot_weigh_is_one_line_naming_it(specs, message):
    with pytest.raises(FlavorError) as raised:
        request(flavor(**specs), parse_aliases([NIC]))

    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_specs_that_do_not_change_placement_are_accepted():
    wanted = request(flavor(**{"hw:cpu_sockets": "2", "quota:cpu_shares": "1024"}))

    assert wanted.cells is None


def test_pci_aliases_as_nova_reads_them():
    aliases = parse_aliases([NIC, NIC.replace("154d", "1520")])
    wanted = request(
        flavor(**{"pci_passthrough:alias": "nic:2", "hw:pci_numa_affinity_policy": "required"}),
        aliases,
    )

    (pci,) = wanted.pci
    assert (pci.alias, pci.count, pci.numa_policy, len(pci.specs)) == ("nic", 2, "required", 2)
    assert ("dev_type", "type-VF") in pci.specs[0]


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        '{"vendor_id": "8086"}',
        '{"name": "x", "vendor_id": "8086"}',
        '{"name": "x", "color": "red"}',
    ],
)
def test_a_bad_alias_is_one_line(text):
    with pytest.raises(FlavorError, match=r"^\[pci\] alias: "):
        parse_aliases([text])


def test_a_flavors_file_in_yaml_or_json(tmp_path):
    flavors = {
        "m1.large": {"vcpus": 4, "ram": "8G", "disk": "40G", "swap": 512},
        "pinned": {
            "vcpus": 2,
            "ram": 2048,
            "extra_specs": {"hw:cpu_policy": "dedicated", "hw:numa_nodes": 1},
        },
    }
    as_json = tmp_path / "flavors.json"
    as_json.write_text(json.dumps({"flavors": flavors}))
    as_yaml = tmp_path / "flavors.yaml"
    as_yaml.write_text(
        "flavors:\n  m1.large: {vcpus: 4, ram: 8G, disk: 40G, swap: 512}\n"
        "  pinned:\n    vcpus: 2\n    ram: 2048\n"
        "    extra_specs: {hw:cpu_policy: dedicated, hw:numa_nodes: 1}\n"
    )

    read = flavors_file.load(str(as_yaml))
    assert read == flavors_file.load(str(as_json))
    assert read[0] == Flavor(4, 8192, root_gb=40, swap_mb=512, name="m1.large")
    assert read[1].extra_specs == (("hw:cpu_policy", "dedicated"), ("hw:numa_nodes", "1"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "does not parse"),
        ('{"flavors": []}', "needs a mapping 'flavors'"),
        (
            '{"flavors": {"a": {"vcpus": 0, "ram": 1}}}',
            "flavor a: vcpus must be a whole number >= 1",
        ),
        ('{"flavors": {"a": {"vcpus": 1}}}', "flavor a: ram is missing"),
        ('{"flavors": {"a": {"vcpus": 1, "ram": "lots"}}}', "flavor a: ram: not a size"),
        ('{"flavors": {"a": {"vcpus": 1, "ram": 1, "gpus": 1}}}', "flavor a: unknown key(s) gpus"),
        (
            '{"flavors": {"a": {"vcpus": 1, "ram": 1, "extra_specs": {"hw:foo": "1"}}}}',
            "unknown extra spec",
        ),
    ],
)
def test_a_bad_flavors_file_is_one_line_naming_it(tmp_path, text, message):
    path = tmp_path / "flavors.json"
    path.write_text(text)

    with pytest.raises(FlavorError) as raised:
        flavors_file.load(str(path))

    assert str(raised.value).startswith(f"flavors file {path}: ") and message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_missing_flavors_file_is_one_line(tmp_path):
    with pytest.raises(FlavorError, match="No such file"):
        flavors_file.load(str(tmp_path / "none.yaml"))
