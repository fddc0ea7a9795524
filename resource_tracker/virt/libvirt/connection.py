"""One read-only libvirt connection, opened on first use and reopened after it breaks.

The tracker only reads, so the connection is read-only: the daemon needs no more than the
read-only socket (world-readable under libvirt's default policy) on a compute host.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable

import libvirt

from resource_tracker.exception import HypervisorUnavailable

LOG = logging.getLogger(__name__)


def _ignore_libvirt_error(_context, _error) -> None:
    """libvirt prints every error to stderr unless a handler takes it; we raise them instead."""


libvirt.registerErrorHandler(_ignore_libvirt_error, None)


class LibvirtConnection:
    """Hands out a live connection to `uri`, reconnecting when the last one died."""

    def __init__(
        self,
        uri: str,
        open_connection: Callable[[str], libvirt.virConnect] = libvirt.openReadOnly,
    ):
        self.uri = uri
        self._open = open_connection
        self._conn: libvirt.virConnect | None = None

    def get(self) -> libvirt.virConnect:
        """The current connection if it is alive, else a new one; HypervisorUnavailable if not."""
        if self._conn is not None and not self._is_alive(self._conn):
            LOG.warning("libvirt connection to %s lost; reconnecting", self.uri)
            self.reset()
        if self._conn is None:
            try:
                self._conn = self._open(self.uri)
            except libvirt.libvirtError as error:
                raise HypervisorUnavailable(
                    f"cannot connect to libvirt at {self.uri}: {error.get_error_message()}"
                ) from error
        return self._conn

    def reset(self) -> None:
        """Forget the current connection; the next get() opens a new one."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(libvirt.libvirtError):  # a broken one may refuse to close
                conn.close()

    @staticmethod
    def _is_alive(conn: libvirt.virConnect) -> bool:
        try:
            return conn.isAlive() == 1
        except libvirt.libvirtError:
            return False
