"""Drop the table-of-contents entries of `optional_pages` (conf.py) whose file is not there yet,
so the build passes (warnings are errors) before and after other work adds those pages."""

from __future__ import annotations

import os

from sphinx.application import Sphinx


def _drop_missing(app: Sphinx, docname: str, source: list[str]) -> None:
    if docname != app.config.root_doc:
        return
    missing = {
        page
        for page in app.config.optional_pages
        if not os.path.exists(os.path.join(app.srcdir, f"{page}.md"))
    }
    source[0] = "\n".join(line for line in source[0].split("\n") if line.strip() not in missing)


def setup(app: Sphinx) -> dict[str, object]:
    app.add_config_value("optional_pages", [], "env")
    app.connect("source-read", _drop_missing)
    return {"parallel_read_safe": True}
