"""A private MariaDB server for the tests: its own data directory, socket and port.

The server the machine may already run is left alone (Debian's root there authenticates by
unix socket, so tests could not rely on it anyway). Set RT_TEST_MYSQL_URL to use an
existing server instead, e.g. mysql+pymysql://root@127.0.0.1:3306/.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess

import pymysql

from tests.support.certs import ServerCertificate
from tests.support.waiting import wait_for_server

TRACKER_PASSWORD = "s3cret-pw"  # of the tracker user that private_servers create
# a server's files in 20 MB rather than 190 (a 96 MB redo log by default): a test run makes
# several servers
SMALL_FILES = ["--innodb-log-file-size=8M", "--innodb-data-file-path=ibdata1:4M:autoextend"]
SEARCH_PATH = "/usr/sbin:/usr/bin:/usr/local/sbin:/usr/local/bin"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _binary(*names: str) -> str:
    for name in names:
        path = shutil.which(name, path=SEARCH_PATH)
        if path:
            return path
    raise RuntimeError(
        f"none of {', '.join(names)} found: run tools/setup.sh --test to install mariadb-server"
    )


class MariaDBServer:
    def __init__(
        self, basedir: str, port: int | None = None, tls: ServerCertificate | None = None
    ):
        self.basedir = basedir
        self.tls = tls  # the server's certificate, for TLS (ssl-ca, ssl-cert, ssl-key)
        self.datadir = os.path.join(basedir, "data")
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None

    def initialize(self) -> None:
        """A new data directory. Tried twice: once in a full run on a loaded machine the
        installer exited 1 and passed alone; a second failure says what it printed."""
        os.makedirs(self.basedir, exist_ok=True)
        command = [
            _binary("mariadb-install-db", "mysql_install_db"),
            "--no-defaults",
            f"--datadir={self.datadir}",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            *SMALL_FILES,
            *self._user_args(),
        ]
        for _attempt in (1, 2):
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode == 0:
                return
            shutil.rmtree(self.datadir, ignore_errors=True)
        raise RuntimeError(
            f"{command[0]} exited {done.returncode} twice: "
            f"{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )

    def start(self, timeout_s: float = 30) -> None:
        with open(os.path.join(self.basedir, "server.log"), "ab") as log:
            self.process = subprocess.Popen(
                [
                    _binary("mariadbd", "mysqld"),
                    "--no-defaults",
                    f"--datadir={self.datadir}",
                    f"--socket={os.path.join(self.basedir, 'mysqld.sock')}",
                    f"--port={self.port}",
                    "--bind-address=127.0.0.1",
                    "--innodb-buffer-pool-size=128M",
                    "--max-connections=500",
                    *SMALL_FILES,
                    *self._tls_args(),
                    *self._user_args(),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for_server(
            lambda: pymysql.connect(host="127.0.0.1", port=self.port, user="root").close(),
            pymysql.err.OperationalError,
            self.process,
            timeout_s,
            log=os.path.join(self.basedir, "server.log"),
        )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=60)
        self.process = None

    def url(self, database: str = "") -> str:
        return f"mysql+pymysql://root@127.0.0.1:{self.port}/{database}?charset=utf8mb4"

    def _tls_args(self) -> list[str]:
        if self.tls is None:
            return []
        return [
            f"--ssl-ca={self.tls.ca}",
            f"--ssl-cert={self.tls.cert}",
            f"--ssl-key={self.tls.key}",
        ]

    @staticmethod
    def _user_args() -> list[str]:
        return ["--user=root"] if os.geteuid() == 0 else []


def create_tracker_database(server: MariaDBServer, database: str = "rt") -> str:
    """A database and a 'tracker' user with a password; the URL the daemon would use."""
    admin = pymysql.connect(host="127.0.0.1", port=server.port, user="root")
    with admin, admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {database} CHARACTER SET utf8mb4")
        cursor.execute(f"CREATE USER 'tracker'@'127.0.0.1' IDENTIFIED BY '{TRACKER_PASSWORD}'")
        cursor.execute(f"GRANT ALL ON {database}.* TO 'tracker'@'127.0.0.1'")
    return f"mysql+pymysql://tracker:{TRACKER_PASSWORD}@127.0.0.1:{server.port}/{database}"
