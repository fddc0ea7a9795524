"""What a write to Placement asks for, given what Placement holds: Nova 34's ratio rule
(an operator's ratio in Placement kept unless ours is configured) and others' traits kept."""

from resource_tracker.placement.records import Inventory, ProviderReport
from resource_tracker.placement.sync import wanted_inventories, wanted_traits


def report(explicit=frozenset()) -> ProviderReport:
    return ProviderReport(
        uuid="u",
        name="n",
        inventories=(Inventory("VCPU", 8, 0, 1, 8, 1, 4.0), Inventory("DISK_GB", 10, 1, 1, 10)),
        traits=frozenset({"COMPUTE_NODE", "HW_CPU_X86_AVX"}),
        owned_traits=frozenset({"COMPUTE_NODE", "HW_CPU_X86_AVX", "HW_CPU_X86_SSE"}),
        explicit_ratios=explicit,
    )


def test_a_ratio_in_placement_is_kept_unless_ours_is_explicit():
    placed = {"VCPU": {"allocation_ratio": 16.0}}
    assert wanted_inventories(report(), placed)["VCPU"]["allocation_ratio"] == 16.0
    explicit = report(frozenset({"VCPU"}))
    assert wanted_inventories(explicit, placed)["VCPU"]["allocation_ratio"] == 4.0
    # a class Placement does not have yet gets ours: the initial ratio
    assert wanted_inventories(report(), {})["VCPU"]["allocation_ratio"] == 4.0


def test_traits_of_others_are_kept_ours_set_and_removed():
    placed = frozenset({"CUSTOM_RACK_1", "HW_CPU_X86_SSE", "COMPUTE_NODE"})
    assert wanted_traits(report(), placed) == {"CUSTOM_RACK_1", "COMPUTE_NODE", "HW_CPU_X86_AVX"}


def test_a_reserved_not_ours_to_say_is_kept_as_placement_has_it():
    pci = ProviderReport(
        "u", "n", (Inventory("CUSTOM_GPU", 2, 0, 1, 2),), frozenset(), frozenset(),
        kept_reserved=frozenset({"CUSTOM_GPU"}),
    )  # fmt: skip
    placed = {"CUSTOM_GPU": {"allocation_ratio": 1.0, "reserved": 1}}
    assert wanted_inventories(pci, placed)["CUSTOM_GPU"]["reserved"] == 1  # an operator's
    assert wanted_inventories(pci, {})["CUSTOM_GPU"]["reserved"] == 0  # a new provider
    placed["CUSTOM_GPU"]["reserved"] = 5  # above a total that shrank: cut, else refused
    assert wanted_inventories(pci, placed)["CUSTOM_GPU"]["reserved"] == 2
    ours = {"DISK_GB": {"allocation_ratio": 1.0, "reserved": 7}}
    assert wanted_inventories(report(), ours)["DISK_GB"]["reserved"] == 1  # the root's: ours
