"""The resource-tracker daemon as a real process for the benchmarks: its config, SQLite
database, metrics endpoint and RSS."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.support.daemon import Daemon
from tests.support.mariadb import free_port
from tests.support.paths import BIN


@dataclass
class Run:
    daemon: Daemon
    database: str  # the SQLite file
    metrics_url: str

    def rss_mib(self) -> float:
        with open(f"/proc/{self.daemon.process.pid}/status") as status:
            kib = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
        return kib / 1024

    def stop(self) -> None:
        self.daemon.stop()


def start(
    root: Path,
    uri: str,
    instances: Path,
    interval_s: int,
    extra: str = "",
    env: dict[str, str] | None = None,
) -> Run:
    """The daemon on `uri`, its state under `root` (a database made by db sync)."""
    state = root / f"state-{free_port()}"
    state.mkdir(parents=True)
    instances.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = state / "resource-tracker.conf"
    config.write_text(
        f"[DEFAULT]\nhost = bench-1\nstate_path = {state}\ninstances_path = {instances}\n"
        f"periodic_fuzzy_delay = 0\nupdate_resources_interval = {interval_s}\n{extra}\n"
        f"[libvirt]\nconnection_uri = {uri}\n"
        f"[database]\nconnection = sqlite:///{state}/rt.sqlite\n"
        f"[metrics]\nlisten = 127.0.0.1:{port}\n"
    )
    manage = os.path.join(BIN, "resource-tracker-manage")
    subprocess.run([manage, "--config-file", str(config), "db", "sync"], check=True)
    daemon = Daemon(str(config), env)
    return Run(daemon, str(state / "rt.sqlite"), f"http://127.0.0.1:{port}/metrics")
