"""Nova's `<nova:instance>` metadata read from a domain's XML: as Nova 34 writes it (the
fixture was made by Nova's own config classes, tests/support/nova_domains.py), absent, and
hostile (each bad part costs only itself, never the domain or the audit)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from resource_tracker.resources import NovaFlavor, NovaInstance
from resource_tracker.virt.libvirt.domains import parse_domain

NOVA34 = (Path(__file__).parents[3] / "fixtures" / "domains" / "nova34-instance.xml").read_text()
PROJECT = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
USER = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
IMAGE = "155d900f-4e14-4e4c-a73d-069cbf4541e6"
WRITTEN = NovaInstance(
    flavor=NovaFlavor(
        name="m1.small", vcpus=2, memory_mb=2048, disk_gb=20, swap_mb=512, ephemeral_gb=10
    ),
    project_id=PROJECT,
    user_id=USER,
    image_id=IMAGE,
    os_type="linux",
    os_type_known=True,
)


def test_nova_34_metadata_is_read():
    domain = parse_domain(NOVA34)

    assert domain.nova == WRITTEN
    assert (domain.name, domain.vcpus, domain.memory_bytes) == ("instance-00000001", 2, 2 << 30)


def test_a_domain_without_nova_metadata_has_none():
    without = NOVA34.replace(NOVA34[NOVA34.index("<metadata>") : NOVA34.index("<os>")], "")
    other_tool = without.replace("<os>", "<metadata><app:x xmlns:app='urn:x'/></metadata><os>")

    assert parse_domain(without).nova is None and parse_domain(other_tool).nova is None
    assert parse_domain(without).vcpus == parse_domain(NOVA34).vcpus


def test_an_image_without_os_type_is_nova_s_none():
    xml = NOVA34.replace('<nova:property name="os_type">linux</nova:property>', "")

    assert parse_domain(xml).nova.os_type_known and parse_domain(xml).nova.os_type is None


@pytest.mark.parametrize(
    "old, new, expected",
    [
        # an id that is not one: only that id is lost
        (f'uuid="{PROJECT}"', 'uuid="a b"', {"project_id": None}),
        (f'uuid="{PROJECT}"', 'uuid="' + "a" * 65 + '"', {"project_id": None}),
        (f'uuid="{USER}"', 'uuid="x&#10;y"', {"user_id": None}),
        (f'<nova:image uuid="{IMAGE}"', '<nova:image uuid=""', {"image_id": None}),
        # numbers: huge, negative, not numbers, unicode digits
        ("<nova:memory>2048<", "<nova:memory>" + "9" * 5000 + "<", {"memory_mb": None}),
        ("<nova:memory>2048<", "<nova:memory>4294967296<", {"memory_mb": None}),
        ("<nova:vcpus>2<", "<nova:vcpus>-2<", {"vcpus": None}),
        ("<nova:disk>20<", "<nova:disk>²<", {"disk_gb": None}),
        ("<nova:swap>512<", "<nova:swap><nova:x/>1<", {"swap_mb": None}),
        ('name="m1.small"', 'name="m1&#10;x"', {"name": None}),
        ('name="m1.small"', 'name="' + "f" * 256 + '"', {"name": None}),
        # an os_type Nova's field would refuse, a missing part
        (">linux<", ">beos<", {"os_type": None, "os_type_known": False}),
        ("<nova:properties>", "<nova:x>", {"os_type": None, "os_type_known": False}),
        ("<nova:owner>", "<nova:nobody>", {"project_id": None, "user_id": None}),
    ],
)
def test_a_bad_part_costs_only_itself(old, new, expected):
    assert old in NOVA34
    start = NOVA34.index(old)
    xml = NOVA34[:start] + new + NOVA34[start + len(old) :]
    if new.startswith("<nova:x>"):
        xml = xml.replace("</nova:properties>", "</nova:x>")
    if new.startswith("<nova:nobody>"):
        xml = xml.replace("</nova:owner>", "</nova:nobody>")

    nova = parse_domain(xml).nova

    flavor_fields = {k: v for k, v in expected.items() if k in NovaFlavor.__slots__}
    want = WRITTEN
    if flavor_fields:
        want = _replace(want, flavor=_replace(WRITTEN.flavor, **flavor_fields))
    want = _replace(want, **{k: v for k, v in expected.items() if k not in flavor_fields})
    assert nova == want


def test_no_flavor_and_another_namespace_version():
    start, end = NOVA34.index("<nova:flavor"), NOVA34.index("</nova:flavor>")
    no_flavor = NOVA34[:start] + NOVA34[end + len("</nova:flavor>") :]
    other = NOVA34.replace("libvirt/nova/1.1", "libvirt/nova/9.9")

    assert parse_domain(no_flavor).nova == _replace(WRITTEN, flavor=None)
    assert parse_domain(other).nova is None  # not the shape we know: counted as today


def _replace(record, **changes):
    return dataclasses.replace(record, **changes)
