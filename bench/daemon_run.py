"""The resource-tracker daemon as a real process for the benchmarks: its config, SQLite
database, metrics endpoint and RSS."""

from __future__ import annotations

import os
import re
import subprocess
import urllib.request
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

    def audits(self) -> int:
        """The audits that succeeded, as its metrics count them (periodic and event ones)."""
        text = urllib.request.urlopen(self.metrics_url, timeout=5).read().decode()
        return sum(
            int(float(v))
            for v in re.findall(r"^resource_tracker_audits_total\S* (\S+)$", text, re.M)
        )

    def stop(self) -> None:
        self.daemon.stop()


def start(
    root: Path,
    uri: str,
    instances: Path,
    interval_s: int,
    extra: str = "",
    bin_dir: str = BIN,
    env: dict[str, str] | None = None,
) -> Run:
    """The daemon on `uri`, its state under `root` (a database made by db sync), run from
    the virtualenv whose commands are in `bin_dir`, with `env` added to its environment."""
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
    manage = os.path.join(bin_dir, "resource-tracker-manage")
    subprocess.run([manage, "--config-file", str(config), "db", "sync"], check=True)
    daemon = Daemon(str(config), env=env, bin_dir=bin_dir)
    return Run(daemon, str(state / "rt.sqlite"), f"http://127.0.0.1:{port}/metrics")
