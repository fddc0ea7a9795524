"""The documentation (docs/, Sphinx with MyST Markdown) builds, warnings as errors, into HTML
and the two man pages; the configuration reference in it is generated from the options
themselves (oslo_config.sphinxext), so it holds every option registered now."""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys

import pytest

from resource_tracker.conf import nova
from resource_tracker.conf.opts import list_opts
from tests.support.paths import ROOT

DOCS = os.path.join(ROOT, "docs")


def sphinx(builder: str, out, doctrees) -> None:
    warnings_fail = ["-W", "--keep-going", "-q", "-d", str(doctrees)]
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", *warnings_fail, "-b", builder, DOCS, str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"sphinx -b {builder} failed:\n{result.stderr}"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """docs/ built as HTML and as man pages (one read of the sources, shared by both)."""
    top = tmp_path_factory.mktemp("docs")
    sphinx("html", top / "html", top / "doctrees")
    sphinx("man", top / "man", top / "doctrees")
    return top


def page_text(built, name: str) -> str:
    """The page's text, its white space and Sphinx's smart quotes made plain."""
    text = html.unescape(re.sub(r"<[^>]+>", "", (built / "html" / name).read_text()))
    return " ".join(
        text.replace("\u2019", "'").replace("\u201c", '"').replace("\u201d", '"').split()
    )


def test_every_option_is_in_the_configuration_reference(built):
    reference = (built / "html" / "configuration.html").read_text()
    ids = set(re.findall(r'id="([^"]+)"', reference))
    # by dest: keystoneauth's options are named with dashes (status-code-retries)
    options = {f"{group}.{opt.dest}" for group, opts in list_opts() for opt in opts}

    assert len(options) > 30
    assert options - ids == set()


def test_every_option_shared_with_nova_is_listed_with_novas_default(built):
    text = page_text(built, "configuration.html")

    rows = [(f"[{each.group}] {each.name}", each.nova_default) for each in nova.SHARED]
    rows += [(f"[{group}] {name}", why) for (group, name), why in nova.NOT_SHARED.items()]
    for option, value in rows:
        assert f"{option} {value.replace('`', '')}" in text


def test_both_man_pages_are_built(built):
    for name in ("resource-tracker", "resource-tracker-manage"):
        page = (built / "man" / f"{name}.8").read_text()
        assert re.search(rf'^\.TH "{name.upper()}" "8"', page, re.M), page[:300]
        assert re.search(r"^\.SH SYNOPSIS", page, re.M)
        assert re.search(r'^\.SH "?EXIT STATUS', page, re.M)


def test_the_changelog_is_the_release_notes(built):
    with open(os.path.join(ROOT, "RELEASE-NOTES.md")) as notes:
        first_entry = re.search(r"^## (.+)$", notes.read(), re.M).group(1)  # type: ignore[union-attr]

    assert first_entry in page_text(built, "changelog.html")
