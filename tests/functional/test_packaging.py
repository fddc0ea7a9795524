"""The wheel and sdist `python -m build` makes from a clean clone: the version from git tags."""

from __future__ import annotations

import email
import os
import re
import subprocess
import sys
import tarfile
import zipfile

import pytest

from tests.support.paths import ROOT

# setuptools-scm between tags (or before the first): N commits since, and the commit
DEV_VERSION = r"0\.1(\.0)?\.dev\d+\+g[0-9a-f]+"


def run(*command: str, cwd: str) -> str:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture
def clone(tmp_path):
    """A clone of this checkout's HEAD, as CI makes one: committed files only, no tags."""
    path = str(tmp_path / "clone")
    run("git", "clone", "--quiet", "--no-tags", ROOT, path, cwd=str(tmp_path))
    return path


def build(clone: str, *what: str) -> dict[str, str]:
    """`python -m build` in the clone; the files it made, by kind (sdist, wheel)."""
    run(sys.executable, "-m", "build", *what, "--outdir", "dist", cwd=clone)
    made = os.listdir(os.path.join(clone, "dist"))
    kinds = {"sdist": ".tar.gz", "wheel": ".whl"}
    return {
        kind: os.path.join(clone, "dist", name)
        for kind, ending in kinds.items()
        for name in made
        if name.endswith(ending)
    }


def wheel_metadata(path: str) -> tuple[email.message.Message, list[str], str]:
    with zipfile.ZipFile(path) as wheel:
        names = wheel.namelist()
        info = next(name for name in names if name.endswith(".dist-info/METADATA"))
        points = next(name for name in names if name.endswith(".dist-info/entry_points.txt"))
        return email.message_from_bytes(wheel.read(info)), names, wheel.read(points).decode()


def test_an_untagged_clone_builds_a_dev_version_sdist_and_a_wheel_from_it(clone):
    commit = run("git", "rev-parse", "HEAD", cwd=clone).strip()
    commits = int(run("git", "rev-list", "--count", "HEAD", cwd=clone))

    made = build(clone)  # the sdist, then the wheel from the unpacked sdist (no .git there)

    metadata, names, entry_points = wheel_metadata(made["wheel"])
    version = metadata["Version"]
    assert re.fullmatch(DEV_VERSION, version), version
    distance, short_hash = re.findall(r"\.dev(\d+)\+g(\w+)", version)[0]
    assert (int(distance), commit.startswith(short_hash)) == (commits, True)
    assert os.path.basename(made["sdist"]) == f"resource_tracker-{version}.tar.gz"
    assert "resource_tracker/db/migrations/script.py.mako" in names
    assert "resource-tracker = resource_tracker.cmd:start_daemon" in entry_points
    assert "resource-tracker-manage = resource_tracker.cmd.manage:main" in entry_points
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names)
    with tarfile.open(made["sdist"]) as sdist:
        members = sdist.getnames()
    top = f"resource_tracker-{version}"
    # what the Debian package is built from: the sdist carries debian/, etc/, docs/ (the man
    # pages) and the tests
    needs = ("PKG-INFO", "debian/control", "etc/systemd/resource-tracker.service", "LICENSE")
    for needed in (*needs, "docs/conf.py", "docs/man/resource-tracker.md"):
        assert f"{top}/{needed}" in members


def test_a_tagged_commit_builds_the_tags_version(clone):
    run("git", "tag", "v9.8.7", cwd=clone)  # in the throwaway clone only

    made = build(clone, "--sdist")

    assert os.path.basename(made["sdist"]) == "resource_tracker-9.8.7.tar.gz"
