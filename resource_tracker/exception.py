"""The few errors that callers act on."""


class ResourceTrackerError(Exception):
    """Base of every error this package raises on purpose.

    `failure_kind`, when set, names what a run of such failures has in common (the half of
    the audit that did not return, say), so that the run is reported once whatever each
    message says; None: the message itself is the kind.

    `needs_operator`: only a person can cure it (a grant, a password, a full disk, `db
    sync`); retrying will not, so the daemon says so at once, not after a while."""

    failure_kind: str | None = None
    needs_operator: bool = False


class ConfigError(ResourceTrackerError):
    """The configuration cannot be used; the message names the option."""

    needs_operator = True


class HypervisorUnavailable(ResourceTrackerError):
    """libvirt cannot be reached; the next audit reconnects."""


class StorageUnavailable(ResourceTrackerError):
    """The local storage that instance disks live on cannot be measured."""


class DatabaseUnavailable(ResourceTrackerError):
    """The database cannot be reached or refused the transaction."""


class SchemaNotCurrent(ResourceTrackerError):
    """The database schema is missing, behind, or newer than this program may write into."""


class SchemaBehind(SchemaNotCurrent):
    """The schema is missing or behind; `resource-tracker-manage db sync` fixes it."""

    needs_operator = True


class ImageError(ResourceTrackerError):
    """A disk image's header is malformed or unsupported."""
