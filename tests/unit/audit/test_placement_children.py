"""Names and classes of child providers, as Nova 34 spells them."""

from resource_tracker.audit.pci_providers import resource_class
from resource_tracker.audit.vgpus import node_device_name


def test_node_device_names_of_pci_addresses():
    assert node_device_name("0000:3b:00.0") == "pci_0000_3b_00_0"
    assert node_device_name("css_0_0_0014") == "css_0_0_0014"


def test_resource_classes_as_novas_translator_makes_them():
    assert resource_class({}, "8086", "10fb") == "CUSTOM_PCI_8086_10FB"
    assert resource_class({"resource_class": "custom_nic"}, "8086", "10fb") == "CUSTOM_NIC"
    assert resource_class({"resource_class": "PGPU"}, "10de", "1eb8") == "PGPU"
    assert resource_class({"resource_class": "fast-nic.v2"}, "8086", "1") == "CUSTOM_FAST_NIC_V2"
