"""libvirt's event loop, run in a native thread: it delivers close callbacks and keepalives.

It must be started before a connection is opened for that connection to get either. The
daemon starts it; `--once` and the tests that need no events leave it off.
"""

from __future__ import annotations

import logging
import threading
import time

import libvirt

LOG = logging.getLogger(__name__)

_lock = threading.Lock()
_started = False


def start() -> None:
    global _started
    with _lock:
        if _started:
            return
        libvirt.virEventRegisterDefaultImpl()
        threading.Thread(target=_run, name="libvirt-events", daemon=True).start()
        _started = True


def running() -> bool:
    return _started


def _run() -> None:
    while True:
        try:
            libvirt.virEventRunDefaultImpl()
        except libvirt.libvirtError as error:
            LOG.warning("libvirt event loop: %s", error.get_error_message())
            time.sleep(1)
