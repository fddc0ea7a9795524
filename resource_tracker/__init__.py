"""resource-tracker: a libvirt/KVM host's resources, reconciled into compute_nodes."""

from importlib import metadata

DISTRIBUTION = "resource-tracker"


def version() -> str:
    """This installation's version, the one its build took from the git tags (setuptools-scm),
    e.g. 0.1.0 or 0.1.1.dev3+g1a2b3c4; "unknown" for a source tree never installed."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "unknown"
