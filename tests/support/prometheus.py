"""A private Prometheus server (Debian's `prometheus` package): on loopback, scraping the
given targets every second, its storage in a temporary directory; queried over its HTTP API."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator

import pytest

from tests.support.mariadb import free_port
from tests.support.waiting import wait_for_server

JOB = "resource-tracker"  # the job name the rules and the dashboard expect


class Prometheus:
    def __init__(self, port: int):
        self.url = f"http://127.0.0.1:{port}"

    def query(self, expr: str) -> list[dict]:
        """The result of an instant query now; raises on an error (a bad expression)."""
        address = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        with urllib.request.urlopen(address, timeout=10) as response:
            answer = json.load(response)
        assert answer["status"] == "success", answer
        return answer["data"]["result"]

    def ready(self) -> None:
        urllib.request.urlopen(f"{self.url}/-/ready", timeout=2).close()


@contextlib.contextmanager
def serving(directory, targets: list[str]) -> Iterator[Prometheus]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus is missing: tools/setup.sh --test installs it (Debian package)")
    config = os.path.join(directory, "prometheus.yml")
    with open(config, "w") as text:
        json.dump(  # JSON is YAML
            {
                "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
                "scrape_configs": [
                    {"job_name": JOB, "static_configs": [{"targets": targets}]},
                ],
            },
            text,
        )
    port = free_port()
    log = os.path.join(directory, "prometheus.log")
    with open(log, "w") as output:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={os.path.join(directory, 'data')}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--storage.tsdb.retention.time=1h",
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    server = Prometheus(port)
    try:
        wait_for_server(server.ready, OSError, process, timeout_s=30, log=log)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
