"""--version on both commands: the version the installed distribution's metadata holds."""

from __future__ import annotations

import subprocess
from importlib import metadata

import pytest

import resource_tracker
from tests.support.paths import BIN


@pytest.mark.parametrize("command", ["resource-tracker", "resource-tracker-manage"])
def test_version_prints_the_installed_version_and_exits_zero(command):
    result = subprocess.run(
        [f"{BIN}/{command}", "--version"], capture_output=True, text=True, timeout=60
    )

    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == f"{command} {metadata.version('resource-tracker')}\n"


def test_a_tree_never_installed_says_unknown(monkeypatch):
    monkeypatch.setattr(resource_tracker, "DISTRIBUTION", "resource-tracker-never-installed")

    assert resource_tracker.version() == "unknown"
