"""Nova's own code, for tests that check what our rows mean against what Nova 34 computes.

Nova is never our dependency: it lives in a throwaway virtualenv of its own, made on first
use and kept between runs under ~/.cache/resource-tracker (or $RT_NOVA_VENV), so only the
first run pays its install (about 3 minutes). Tests hand it JSON and get JSON back:

    result = nova.run(SCRIPT, {"row": ...})   # SCRIPT reads json from stdin, prints json

A venv that an interrupted install left half made is made again.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

from tests.support import venvs

NOVA_VERSION = "34.0.0"
RUN_TIMEOUT_S = 120


def venv_path() -> Path:
    return venvs.cache_path(f"nova-{NOVA_VERSION}", "RT_NOVA_VENV")


def python() -> str:
    """The venv's interpreter, the venv made first where it is missing or half made."""
    return venvs.python(venv_path(), f"nova=={NOVA_VERSION}")


def run(script: str, payload: Any) -> Any:
    """Run `script` with Nova importable, `payload` as JSON on its stdin; its JSON stdout."""
    return run_with(script, payload, {})


def run_with(script: str, payload: Any, env: dict[str, str]) -> Any:
    """run(), with more environment variables (PYTHONPATH, say)."""
    result = subprocess.run(
        [python(), "-c", script],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(Path.home()), **env},
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
