"""This installation's version: the one its build took from the git tags (setuptools-scm)."""

from __future__ import annotations

from importlib import metadata

DISTRIBUTION = "resource-tracker"


def version() -> str:
    """The installed distribution's version, e.g. 0.1.0 or 0.1.1.dev3+g1a2b3c4."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:  # a source tree imported without being installed
        return "unknown"
