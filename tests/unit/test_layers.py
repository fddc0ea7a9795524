"""The layer rule of DESIGN.md, read from the imports of every module: cmd -> daemon -> audit
-> {virt, db, placement}; virt, db and placement never import each other; eventlet only in the
loop's module; the top of the package holds at most 8 modules beside the packages."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "resource_tracker"
# what each layer may import of the others (the shared top-level modules and conf's option
# constants are open to all)
MAY_IMPORT = {
    "cmd": {"daemon", "audit", "virt", "db", "placement", "conf"},
    "conf": {"audit", "virt", "db", "placement"},  # parsers and constants its options use
    "daemon": {"audit", "virt", "db", "placement", "conf"},
    "audit": {"virt", "db", "placement"},
    "virt": set(),
    "db": set(),
    "placement": set(),
}
EVENTLET_HOME = "daemon/service.py"


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_import_runs_up_or_across(path):
    layer = path.relative_to(PACKAGE).parts[0]
    if layer not in MAY_IMPORT:
        return  # a shared top-level module: checked below
    wrong = {
        name
        for name in imports(path)
        if name.startswith("resource_tracker.")
        and (other := name.split(".")[1]) in MAY_IMPORT
        and other != layer
        and other not in MAY_IMPORT[layer]
    }
    assert not wrong, f"{layer}/ may not import {sorted(wrong)}"


def test_shared_top_level_modules_import_no_layer():
    for path in PACKAGE.glob("*.py"):
        layered = {
            name
            for name in imports(path)
            if name.startswith("resource_tracker.") and name.split(".")[1] in MAY_IMPORT
        }
        assert not layered, f"{path.name} imports {sorted(layered)}"


def test_eventlet_is_imported_by_the_loop_only():
    importers = {
        str(path.relative_to(PACKAGE))
        for path in modules()
        if any(name.split(".")[0] == "eventlet" for name in imports(path))
    }
    assert importers == {EVENTLET_HOME}


def test_the_top_of_the_package_holds_at_most_8_modules():
    assert len(list(PACKAGE.glob("*.py"))) <= 8
