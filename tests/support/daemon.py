"""The resource-tracker daemon as a real process, its log lines collected as they come."""

from __future__ import annotations

import os
import re
import subprocess
import threading

from tests.support.paths import BIN
from tests.support.waiting import wait_for


class Daemon:
    def __init__(self, config_path: str, env: dict[str, str] | None = None, bin_dir: str = BIN):
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [os.path.join(bin_dir, "resource-tracker"), "--config-file", config_path],
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            env={**os.environ, **(env or {})},
        )
        self._reader = threading.Thread(target=self._collect, daemon=True)
        self._reader.start()

    def _collect(self) -> None:
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))

    def count(self, pattern: str) -> int:
        return sum(1 for line in list(self.lines) if re.search(pattern, line))

    def wait_for_log(self, pattern: str, times: int = 1, timeout_s: float = 30) -> bool:
        return wait_for(lambda: self.count(pattern) >= times, timeout_s)

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout_s: float) -> int | None:
        """The exit status, or None if still running after `timeout_s`."""
        try:
            return self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._reader.join(timeout=5)
        self.process.stderr.close()

    @property
    def log(self) -> str:
        return "\n".join(self.lines)
