"""One read-only libvirt connection, opened on first use and reopened after it breaks.

The tracker only reads, so the connection is read-only: the daemon needs no more than the
read-only socket (world-readable under libvirt's default policy) on a compute host. (The
domain capabilities, which libvirt refuses read-only, have a short-lived read-write
connection of their own: guest_features.py.)

A connection is known dead when libvirt's close callback fired or isAlive() says so; the
next get() then opens a new one. Close callbacks and keepalives (a peer that stops answering
for the keepalive time of timeouts.py is dropped) need libvirt's event loop (events.py)
running when the connection opens; the open itself has no time limit (the daemon abandons
an audit that waits on it).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable

import libvirt

from resource_tracker.exception import HypervisorUnavailable
from resource_tracker.timeouts import LIBVIRT_KEEPALIVE_COUNT, LIBVIRT_KEEPALIVE_INTERVAL_S
from resource_tracker.virt.libvirt import events

LOG = logging.getLogger(__name__)

CLOSE_REASONS = {
    libvirt.VIR_CONNECT_CLOSE_REASON_ERROR: "I/O error",
    libvirt.VIR_CONNECT_CLOSE_REASON_EOF: "libvirtd went away",
    libvirt.VIR_CONNECT_CLOSE_REASON_KEEPALIVE: "keepalive timed out",
    libvirt.VIR_CONNECT_CLOSE_REASON_CLIENT: "closed by us",
}


def failure(error: BaseException) -> str | None:
    """libvirt's message if `error` is a libvirt call's failure, else None.

    libvirt-python raises SystemError, not libvirtError, when libvirt's message is not UTF-8
    (a socket path with other bytes, say): the message's bytes are kept, escaped.
    """
    if isinstance(error, libvirt.libvirtError):
        return error.get_error_message() or str(error)
    cause = error.__cause__ or error.__context__
    if isinstance(error, SystemError) and isinstance(cause, UnicodeDecodeError):
        return cause.object.decode("utf-8", "backslashreplace")
    return None


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
        self._closed = threading.Event()
        self._before_close: list[Callable[[libvirt.virConnect], None]] = []
        # one open at a time: a caller abandoned while an open hangs must not race another
        self._opening = threading.Lock()

    def get(self) -> libvirt.virConnect:
        """The current connection if it is alive, else a new one; HypervisorUnavailable if not."""
        with self._opening:
            return self._get()

    def _get(self) -> libvirt.virConnect:
        if self._conn is not None and (self._closed.is_set() or not self._is_alive(self._conn)):
            LOG.info("libvirt connection to %s is gone; reconnecting", self.uri)
            self.reset()
        if self._conn is None:
            try:
                conn = self._open(self.uri)
            except (libvirt.libvirtError, SystemError) as error:
                message = failure(error)
                if message is None:
                    raise
                raise HypervisorUnavailable(
                    f"cannot connect to libvirt at {self.uri}: {message}"
                ) from error
            self._closed.clear()
            self._watch(conn)
            self._conn = conn
        return self._conn

    def before_close(self, callback: Callable[[libvirt.virConnect], None]) -> None:
        """Have `callback(conn)` run before a connection is closed, to deregister event
        callbacks: while any is registered, closing only drops a reference (socket kept)."""
        self._before_close.append(callback)

    def reset(self) -> None:
        """Forget the current connection; the next get() opens a new one."""
        conn, self._conn = self._conn, None
        if conn is not None:
            for callback in self._before_close:
                callback(conn)
            # a broken connection may refuse both; either way it is forgotten
            with contextlib.suppress(libvirt.libvirtError):
                conn.unregisterCloseCallback()
            with contextlib.suppress(libvirt.libvirtError):
                conn.close()

    def _watch(self, conn: libvirt.virConnect) -> None:
        if not events.running():
            return
        with contextlib.suppress(libvirt.libvirtError):  # drivers without close events
            conn.registerCloseCallback(self._on_close, None)
        with contextlib.suppress(libvirt.libvirtError):  # in-process drivers: no keepalive
            conn.setKeepAlive(LIBVIRT_KEEPALIVE_INTERVAL_S, LIBVIRT_KEEPALIVE_COUNT)

    def _on_close(self, _conn, reason: int, _opaque) -> None:
        """Called in libvirt's event thread: only mark the connection dead."""
        self._closed.set()
        LOG.info(
            "libvirt connection to %s closed (%s); the next audit reconnects",
            self.uri,
            CLOSE_REASONS.get(reason, f"reason {reason}"),
        )

    @staticmethod
    def _is_alive(conn: libvirt.virConnect) -> bool:
        try:
            return conn.isAlive() == 1
        except libvirt.libvirtError:
            return False
