"""A real OpenStack Placement service for the tests, on loopback.

Placement is never our dependency: `openstack-placement` lives in a throwaway virtualenv of
its own (it pins its own oslo and SQLAlchemy), made on first use and kept between runs under
~/.cache/resource-tracker (or $RT_PLACEMENT_VENV), flock-guarded like tests/support/nova.py.
The server runs its WSGI app (placement.wsgi.api:application) in a threading wsgiref server,
with `[api] auth_strategy = noauth2` (clients send the token `admin`) and its own SQLite
database, created at start (`sync_on_startup`).
"""

from __future__ import annotations

import subprocess
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.support import venvs
from tests.support.mariadb import free_port
from tests.support.waiting import wait_for_server

PLACEMENT_VERSION = "16.0.0"
START_TIMEOUT_S = 60
TOKEN = "admin"

SERVER = """
import os, sys
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

class Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True

class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass

from placement.wsgi.api import application
make_server("127.0.0.1", int(sys.argv[1]), application, Server, Quiet).serve_forever()
"""


def venv_path() -> Path:
    return venvs.cache_path(f"placement-{PLACEMENT_VERSION}", "RT_PLACEMENT_VENV")


def python() -> str:
    """The venv's interpreter, the venv made first where it is missing or half made."""
    # PyMySQL: for a Placement on MariaDB (bench/placement.py)
    return venvs.python(venv_path(), f"openstack-placement=={PLACEMENT_VERSION}", "PyMySQL>=1.1")


class PlacementServer:
    """One Placement service; `url` is its endpoint."""

    def __init__(self, directory: Path, database_url: str | None = None):
        self.directory = directory
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._database_url = database_url or f"sqlite:///{directory / 'placement.sqlite'}"
        self._process: subprocess.Popen | None = None

    def start(self) -> None:
        (self.directory / "placement.conf").write_text(
            "[api]\nauth_strategy = noauth2\n"
            f"[placement_database]\nconnection = {self._database_url}\n"
            "sync_on_startup = True\n"
        )
        log = self.directory / "placement.log"
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(Path.home()),
            "OS_PLACEMENT_CONFIG_DIR": str(self.directory),
        }
        with open(log, "ab") as out:
            self._process = subprocess.Popen(
                [python(), "-c", SERVER, str(self.port)], env=env, stdout=out, stderr=out
            )
        wait_for_server(
            self._answer,
            (OSError, urllib.error.URLError),
            self._process,
            START_TIMEOUT_S,
            str(log),
        )

    def _answer(self) -> None:
        urllib.request.urlopen(self.url + "/", timeout=2).close()

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=10)
        self._process = None


def config(url: str, token: str = TOKEN) -> str:
    """The [placement] section of our config for a Placement run with noauth2."""
    return (
        f"[placement]\nreport = true\nauth_type = admin_token\nendpoint = {url}\ntoken = {token}\n"
    )


class FaultyPlacement:
    """A loopback front of a real Placement that can be made to fail as a real one does:
    `mode` "forward" (answers as Placement), "500" (every request an HTTP 500), "stall"
    (accepts, reads the request, never answers); stop() closes its port (Placement down),
    start() opens it again."""

    def __init__(self, upstream: str):
        self.upstream = upstream
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.mode = "forward"
        self._server = None
        self._release = threading.Event()

    def start(self) -> None:
        front = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _any(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if front.mode == "stall":
                    front._release.wait(60)
                    return
                if front.mode == "500":
                    self._answer(500, b'{"errors": [{"status": 500, "title": "boom"}]}', {})
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                request = urllib.request.Request(
                    front.upstream + self.path, body, headers, method=self.command
                )
                try:
                    with urllib.request.urlopen(request, timeout=30) as answer:
                        self._answer(answer.status, answer.read(), answer.headers)
                except urllib.error.HTTPError as error:
                    self._answer(error.code, error.read(), error.headers)

            def _answer(self, status, data, headers):
                self.send_response(status)
                for name in ("Content-Type", "OpenStack-API-Version"):
                    if headers.get(name):
                        self.send_header(name, headers[name])
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = _any

        self._release.clear()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
