"""The Debian package built in a trixie root and tested on a booted pristine Debian 13, and
the wheel on a pristine Debian 12 (tools/build-deb.sh, package-test.sh, wheel-test.sh).

Runs only as root, with systemd-nspawn and the cached images (tools/debian-image.sh); a few
minutes each (apt downloads from Debian's mirror)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from tests.support.paths import ROOT

TOOLS = os.path.join(ROOT, "tools")


def missing(suite: str) -> str | None:
    if os.geteuid() != 0:
        return "needs root (systemd-nspawn)"
    if shutil.which("systemd-nspawn") is None:
        return "needs systemd-nspawn (apt-get install systemd-container)"
    image = subprocess.run(
        [f"{TOOLS}/debian-image.sh", "--path", suite], capture_output=True, text=True
    )
    if image.returncode != 0:
        return f"no cached {suite} image (make it with tools/debian-image.sh {suite})"
    return None


def run(*command: str, timeout_s: float) -> subprocess.CompletedProcess:
    return subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=timeout_s, check=False
    )


@pytest.fixture(scope="module")
def deb():
    reason = missing("trixie")
    if reason:
        pytest.skip(reason)
    built = run(f"{TOOLS}/build-deb.sh", timeout_s=900)
    assert built.returncode == 0, built.stdout + built.stderr
    return built.stdout.split()[-1]


def test_the_package_installs_and_runs_under_systemd_on_a_pristine_debian_13(deb):
    result = run(f"{TOOLS}/package-test.sh", deb, timeout_s=1200)

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "package-test: ok"


def test_the_wheel_runs_in_a_virtualenv_on_a_pristine_debian_12(tmp_path):
    reason = missing("bookworm")
    if reason:
        pytest.skip(reason)
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", ROOT, str(clone)], check=True)
    subprocess.run(
        [sys.executable, "-m", "build", "-q", "--wheel", "--outdir", str(tmp_path)],
        cwd=clone,
        check=True,
        capture_output=True,
    )
    wheel = next(str(path) for path in tmp_path.glob("resource_tracker-*.whl"))

    result = run(f"{TOOLS}/wheel-test.sh", wheel, timeout_s=900)

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "wheel-test: ok"
