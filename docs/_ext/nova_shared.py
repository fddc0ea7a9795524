"""`nova-shared` directive: the options shared with nova.conf, and those not read from it,
as two tables generated from resource_tracker/conf/nova.py (SHARED, NOT_SHARED)."""

from __future__ import annotations

import re

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective

from resource_tracker.conf import nova


def _rst(markdown: str) -> str:
    """The `code` spans of nova.py's Markdown as rST literals."""
    return re.sub(r"`([^`]+)`", r"``\1``", markdown)


def _table(title: tuple[str, str], rows: list[tuple[str, str]]) -> list[str]:
    lines = [
        ".. list-table::",
        "   :header-rows: 1",
        "",
        f"   * - {title[0]}",
        f"     - {title[1]}",
    ]
    for left, right in rows:
        lines += [f"   * - ``{left}``", f"     - {_rst(right)}"]
    return [*lines, ""]


class NovaShared(SphinxDirective):
    def run(self) -> list[nodes.Node]:
        shared = [(f"[{s.group}] {s.name}", s.nova_default) for s in nova.SHARED]
        not_shared = [(f"[{g}] {n}", why) for (g, n), why in nova.NOT_SHARED.items()]
        text = _table(
            ("shared option", "nova-compute's value where nova.conf does not set it"), shared
        )
        text += _table(("not read from nova.conf", "why"), not_shared)
        container = nodes.container()
        self.state.nested_parse(StringList(text, "nova-shared"), self.content_offset, container)
        return container.children


def setup(app) -> dict[str, object]:
    app.add_directive("nova-shared", NovaShared)
    return {"parallel_read_safe": True}
