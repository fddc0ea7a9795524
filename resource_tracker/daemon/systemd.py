"""systemd's notify protocol: one datagram of KEY=VALUE lines to $NOTIFY_SOCKET.

Written directly rather than with a library: the protocol is a sendto() on a unix socket.
Without NOTIFY_SOCKET (not run by systemd, or not Type=notify) every call does nothing.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

from resource_tracker.text import one_line

LOG = logging.getLogger(__name__)


class Notifier:
    def __init__(self, environ: Mapping[str, str] | None = None):
        environ = os.environ if environ is None else environ
        address = environ.get("NOTIFY_SOCKET", "")
        # An address starting with "@" is in the abstract namespace: a leading NUL byte.
        self._address = "\0" + address[1:] if address.startswith("@") else address
        self.watchdog_s = _watchdog_seconds(environ)

    @property
    def enabled(self) -> bool:
        return bool(self._address)

    def notify(self, *fields: str) -> None:
        """Send `fields` (e.g. "READY=1", "STATUS=...") as one message; each is one line, so
        a value (an error naming a file) cannot add a field such as WATCHDOG=1."""
        if not self._address:
            return
        message = "\n".join(map(one_line, fields)).encode()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto(message, self._address)
        except OSError as error:
            LOG.debug("cannot notify systemd at %s: %s", self._address, error)


def _watchdog_seconds(environ) -> float | None:
    """The watchdog interval systemd expects pings within, if it is watching this process."""
    usec = environ.get("WATCHDOG_USEC")
    pid = environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return int(usec) / 1_000_000
    except ValueError:
        return None
