"""systemd's side of the notify protocol: a socket that keeps every message with its time."""

from __future__ import annotations

import itertools
import socket
import threading
import time

from tests.support.waiting import wait_for


class NotifyListener:
    def __init__(self, path: str):
        self.path = path
        self.messages: list[tuple[float, str]] = []  # (monotonic time, message)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(path)
        self._sock.settimeout(0.1)
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._collect, daemon=True)
        self._thread.start()

    def env(self, watchdog_s: float) -> dict[str, str]:
        """What systemd puts in the environment of a Type=notify unit with WatchdogSec."""
        return {"NOTIFY_SOCKET": self.path, "WATCHDOG_USEC": str(int(watchdog_s * 1e6))}

    def _collect(self) -> None:
        while not self._closed.is_set():
            try:
                text = self._sock.recv(65536).decode()
            except TimeoutError:
                continue
            self.messages.append((time.monotonic(), text))

    def texts(self, since: float = 0.0) -> list[str]:
        return [text for at, text in list(self.messages) if at >= since]

    def wait_for(self, start: str, timeout_s: float) -> bool:
        return wait_for(lambda: any(t.startswith(start) for t in self.texts()), timeout_s)

    def longest_silence(self, since: float, until: float) -> float:
        """The longest time between WATCHDOG=1 pings (and the window's ends) in the window."""
        pings = [at for at, text in list(self.messages) if "WATCHDOG=1" in text.split("\n")]
        moments = [since, *(at for at in pings if since <= at <= until), until]
        return max(later - earlier for earlier, later in itertools.pairwise(moments))

    def close(self) -> None:
        self._closed.set()
        self._thread.join(timeout=5)
        self._sock.close()
