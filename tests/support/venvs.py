"""Throwaway virtualenvs of packages that are never our dependency (Nova, Placement), made
on first use and kept between runs under ~/.cache/resource-tracker; a flock keeps two test
runs from making one at once, and a venv an interrupted install left half made is made
again."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

INSTALL_TIMEOUT_S = 1200


def cache_path(name: str, override_env: str) -> Path:
    explicit = os.environ.get(override_env)
    if explicit:
        return Path(explicit)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "resource-tracker" / name


def python(venv: Path, *requirements: str) -> str:
    """The venv's interpreter, the venv made first (pip install `requirements`) where it is
    missing, half made, or made for other requirements."""
    done = venv / ".installed"
    wanted = "\n".join(requirements)
    if _made_for(done) in (wanted, ""):  # "": made before the requirements were noted
        return str(venv / "bin" / "python")
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f".{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another test run may be making it
        if _made_for(done) not in (wanted, ""):
            shutil.rmtree(venv, ignore_errors=True)
            _make(venv, requirements)
            done.write_text(wanted)
    return str(venv / "bin" / "python")


def _made_for(done: Path) -> str | None:
    try:
        return done.read_text()
    except FileNotFoundError:
        return None


def _make(venv: Path, requirements: tuple[str, ...]) -> None:
    # Debian's python3, as tools/setup.sh uses it: not .venv's, whose packages must not show
    base = shutil.which("python3", path="/usr/bin:/usr/local/bin") or sys.executable
    subprocess.run([base, "-m", "venv", str(venv)], check=True, timeout=120)
    result = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", *requirements],
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT_S,
    )
    if result.returncode != 0:
        shutil.rmtree(venv, ignore_errors=True)
        raise RuntimeError(f"pip install {requirements} failed:\n{result.stderr[-3000:]}")
