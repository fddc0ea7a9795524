"""kvm_amd's SEV parameters read as Nova reads them (bool_from_string), on a directory
standing in for /sys/module/kvm_amd/parameters."""

from __future__ import annotations

from resource_tracker.virt.kvm_amd import sev_parameters


def test_on_off_missing(tmp_path):
    (tmp_path / "sev").write_text("Y\n")
    (tmp_path / "sev_es").write_text("N\n")
    (tmp_path / "sev_snp").write_text("1\n")

    assert sev_parameters(tmp_path) == {"sev", "sev_snp"}
    assert sev_parameters(tmp_path / "absent") == frozenset()  # no kvm_amd: an Intel host


def test_unreadable_is_off(tmp_path):
    (tmp_path / "sev").mkdir()  # reading it fails (IsADirectoryError)

    assert sev_parameters(tmp_path) == frozenset()
