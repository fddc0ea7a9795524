"""[capacity] flavors_file: named flavors, so a fleet answers by flavor in one call.

YAML (a name ending .yaml or .yml) or JSON, one mapping `flavors` of name to sizes:

    flavors:
      m1.large: {vcpus: 4, ram: 8G, disk: 40G}
      pinned.huge:
        vcpus: 8
        ram: 16384          # bare: MiB, Nova's unit
        disk: 80            # bare: GiB (root); ephemeral (GiB) and swap (MiB) likewise
        extra_specs: {hw:cpu_policy: dedicated, hw:mem_page_size: 1GB}

Every flavor is checked as its first use would check it (flavor.request), so a bad file is
one FlavorError naming the file and the flavor, before any answer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from resource_tracker.audit.fitting.flavor import Aliases, Flavor, FlavorError, request
from resource_tracker.units import GiB, MiB, parse_size

KEYS = {"vcpus", "ram", "disk", "ephemeral", "swap", "extra_specs"}


def _parse(path: str, text: str) -> Any:
    if not path.endswith((".yaml", ".yml")):
        return json.loads(text)
    import yaml  # only for a YAML file: the daemon's memory (issue 21)

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ValueError(str(error) or type(error).__name__) from None


def load(path: str, aliases: Aliases | None = None) -> tuple[Flavor, ...]:
    """The file's flavors in its order; FlavorError (one line) if it cannot be used."""
    try:
        text = Path(path).read_text()
    except OSError as error:
        raise FlavorError(f"flavors file {path}: {error.strerror or error}") from None
    try:
        data = _parse(path, text)
    except ValueError as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise FlavorError(f"flavors file {path}: does not parse: {first}") from None
    if not isinstance(data, Mapping) or not isinstance(data.get("flavors"), Mapping):
        raise FlavorError(f"flavors file {path}: needs a mapping 'flavors' of name to sizes")
    flavors = tuple(_flavor(path, str(name), spec) for name, spec in data["flavors"].items())
    for flavor in flavors:
        try:
            request(flavor, aliases)
        except FlavorError as error:
            raise FlavorError(f"flavors file {path}: {error}") from None
    return flavors


def _flavor(path: str, name: str, spec: Any) -> Flavor:
    where = f"flavors file {path}: flavor {name}"
    if not isinstance(spec, Mapping):
        raise FlavorError(f"{where}: needs a mapping of vcpus, ram, disk, ...")
    unknown = sorted(set(spec) - KEYS)
    if unknown:
        raise FlavorError(f"{where}: unknown key(s) {', '.join(map(str, unknown))}")
    extra = spec.get("extra_specs") or {}
    if not isinstance(extra, Mapping):
        raise FlavorError(f"{where}: extra_specs must be a mapping")
    vcpus = _whole(where, "vcpus", spec.get("vcpus"), 1)
    return Flavor(
        vcpus=vcpus,
        ram_mb=_size(where, "ram", spec.get("ram"), MiB, MiB, minimum=1),
        root_gb=_size(where, "disk", spec.get("disk", 0), GiB, GiB),
        ephemeral_gb=_size(where, "ephemeral", spec.get("ephemeral", 0), GiB, GiB),
        swap_mb=_size(where, "swap", spec.get("swap", 0), MiB, MiB),
        extra_specs=tuple(sorted((str(k), _text(v)) for k, v in extra.items())),
        name=name,
    )


def _whole(where: str, key: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise FlavorError(f"{where}: {key} must be a whole number >= {minimum}, not {value!r}")
    return value


def _size(where: str, key: str, value: Any, bare: int, unit: int, minimum: int = 0) -> int:
    """`value` (a number of `bare` bytes, or a size like 8G) in whole `unit`s, rounded up."""
    if value is None:
        raise FlavorError(f"{where}: {key} is missing")
    try:
        size = parse_size(str(value), bare) if not isinstance(value, bool) else -1
    except ValueError as error:
        raise FlavorError(f"{where}: {key}: {error}") from None
    whole = -(-size // unit)
    if whole < minimum:
        raise FlavorError(f"{where}: {key} must be at least {minimum}, not {value!r}")
    return whole


def _text(value: Any) -> str:
    """An extra spec's value as Nova stores it (strings; YAML may have read a number)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
