"""Sphinx configuration of resource-tracker's documentation (MyST Markdown).

    .venv/bin/python -m sphinx -W -b html docs docs/_build/html
    .venv/bin/python -m sphinx -W -b man docs docs/_build/man

tests/functional/test_docs.py builds both, warnings as errors.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "_ext"))

project = "resource-tracker"
author = "resource-tracker maintainers"
copyright = "resource-tracker maintainers; Apache License 2.0"

extensions = ["myst_parser", "oslo_config.sphinxext", "nova_shared", "optional_pages"]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]
# `[text](page.md#a-heading)` links to headings, as on a forge
myst_heading_anchors = 4
myst_enable_extensions = ["deflist"]
# Markdown links resolve to pages and headings only (the oslo.config domain cannot answer them)
myst_ref_domains = ["std"]
html_theme = "alabaster"
html_static_path: list[str] = []

# Pages other work adds; listed in the index's table of contents only once they exist.
optional_pages = ["cli", "alerts", "placement", "capacity", "benchmarks-freshness"]

man_pages = [
    ("man/resource-tracker", "resource-tracker", "audit a libvirt/KVM host into compute_nodes",
     [author], 8),
    ("man/resource-tracker-manage", "resource-tracker-manage",
     "inspect and maintain resource-tracker's database", [author], 8),
]  # fmt: skip
man_show_urls = False
