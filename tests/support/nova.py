"""Nova's own code, for tests that check what our rows mean against what Nova 34 computes.

Nova is never our dependency: it lives in a throwaway virtualenv of its own, made on first
use and kept between runs under ~/.cache/resource-tracker (or $RT_NOVA_VENV), so only the
first run pays its install (about 3 minutes). Tests hand it JSON and get JSON back:

    result = nova.run(SCRIPT, {"row": ...})   # SCRIPT reads json from stdin, prints json

A venv that an interrupted install left half made is made again.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

NOVA_VERSION = "34.0.0"
INSTALL_TIMEOUT_S = 1200
RUN_TIMEOUT_S = 120


def venv_path() -> Path:
    explicit = os.environ.get("RT_NOVA_VENV")
    if explicit:
        return Path(explicit)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "resource-tracker" / f"nova-{NOVA_VERSION}"


def python() -> str:
    """The venv's interpreter, the venv made first where it is missing or half made."""
    venv = venv_path()
    done = venv / ".installed"
    if done.exists():
        return str(venv / "bin" / "python")
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f".{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another test run may be making it
        if not done.exists():
            shutil.rmtree(venv, ignore_errors=True)
            _make(venv)
            done.touch()
    return str(venv / "bin" / "python")


def _make(venv: Path) -> None:
    # Debian's python3, as tools/setup.sh uses it: not .venv's, whose packages nova must not see
    base = shutil.which("python3", path="/usr/bin:/usr/local/bin") or sys.executable
    subprocess.run([base, "-m", "venv", str(venv)], check=True, timeout=120)
    result = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", f"nova=={NOVA_VERSION}"],
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT_S,
    )
    if result.returncode != 0:
        shutil.rmtree(venv, ignore_errors=True)
        raise RuntimeError(f"pip install nova=={NOVA_VERSION} failed:\n{result.stderr[-3000:]}")


def run(script: str, payload: Any) -> Any:
    """Run `script` with Nova importable, `payload` as JSON on its stdin; its JSON stdout."""
    result = subprocess.run(
        [python(), "-c", script],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(Path.home())},
    )
    if result.returncode != 0:
        raise AssertionError(f"nova script failed:\n{result.stderr[-4000:]}")
    return json.loads(result.stdout)


def sample_config() -> str:
    """nova.conf as Nova 34's oslo-config-generator writes it (every option commented out),
    made once and kept in the venv beside Nova."""
    venv = Path(python()).parent.parent
    sample = venv / "nova.conf.sample"
    if not sample.exists():
        made = venv / f".nova.conf.sample.{os.getpid()}"
        subprocess.run(
            [str(venv / "bin" / "oslo-config-generator"), "--namespace", "nova.conf",
             "--output-file", str(made)],
            check=True,
            capture_output=True,
            timeout=RUN_TIMEOUT_S,
        )  # fmt: skip
        made.rename(sample)  # atomic: a concurrent run sees the whole file or none
    return sample.read_text()


def with_options(text: str, options: dict[tuple[str, str], str]) -> str:
    """`text` (a generated nova.conf) with each (section, name) set: its commented sample
    line in that section replaced by `name = value`; AssertionError if Nova has no such line."""
    text = "\n" + text
    for (section, name), value in options.items():
        start = text.index(f"\n[{section}]\n")
        end = text.find("\n[", start + 1)
        end = len(text) if end < 0 else end
        body, count = re.subn(
            rf"^#{re.escape(name)} =.*$",
            f"{name} = {value}".replace("\\", "\\\\"),
            text[start:end],
            count=1,
            flags=re.M,
        )
        assert count == 1, f"Nova 34's nova.conf has no [{section}] {name}"
        text = text[:start] + body + text[end:]
    return text[1:]
