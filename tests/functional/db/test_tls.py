"""TLS to MariaDB: the suite's private server with a certificate the test makes.

The tracker user is created REQUIRE SSL, so a session that is not TLS is refused; the
server's own Ssl_cipher status says the session is encrypted.
"""

from __future__ import annotations

import os
import subprocess

import pymysql
import pytest
from sqlalchemy import text

from resource_tracker.db.api import Database
from resource_tracker.exception import DatabaseUnavailable
from tests.support.certs import make_ca, make_server_certificate
from tests.support.mariadb import TRACKER_PASSWORD, MariaDBServer
from tests.support.paths import BIN

pytestmark = pytest.mark.mysql


@pytest.fixture(scope="module")
def tls_mariadb(tmp_path_factory):
    base = tmp_path_factory.mktemp("tls-mariadb")
    certificate = make_server_certificate(base / "certs")
    server = MariaDBServer(str(base / "server"), tls=certificate)
    server.initialize()
    server.start()
    admin = pymysql.connect(host="127.0.0.1", port=server.port, user="root")
    with admin, admin.cursor() as cursor:
        cursor.execute("CREATE DATABASE rt CHARACTER SET utf8mb4")
        cursor.execute(
            f"CREATE USER 'tracker'@'127.0.0.1' IDENTIFIED BY '{TRACKER_PASSWORD}' REQUIRE SSL"
        )
        cursor.execute("GRANT ALL ON rt.* TO 'tracker'@'127.0.0.1'")
    server.ca = certificate.ca
    yield server
    server.stop()


def url(server, host: str = "127.0.0.1", query: str = "") -> str:
    return f"mysql+pymysql://tracker:{TRACKER_PASSWORD}@{host}:{server.port}/rt?{query}"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [os.path.join(BIN, args[0]), *args[1:]], capture_output=True, text=True, timeout=60
    )


def write_config(config, database: str) -> str:
    return config(database=database)


def cipher(database_url: str) -> str:
    with Database(database_url) as database, database.engine.connect() as connection:
        return connection.execute(text("SHOW STATUS LIKE 'Ssl_cipher'")).one()[1]


def test_an_audit_over_tls_verified_against_the_ca(tls_mariadb, config):
    good = url(tls_mariadb, query=f"ssl_ca={tls_mariadb.ca}")
    conf = config(database=good)
    assert run("resource-tracker-manage", "--config-file", conf, "db", "sync").returncode == 0
    result = run("resource-tracker", "--config-file", conf, "--once")
    assert result.returncode == 0, result.stderr
    with Database(good) as database:
        (node,) = database.compute_nodes()
    assert node.host == "compute-1"
    assert cipher(good)  # the server says this session is encrypted


def test_oslo_db_spelling_with_ssl_verify_cert_keeps_the_ca(tls_mariadb):
    # left to PyMySQL, ssl_verify_cert=true replaced the CA with the system's: refused
    assert cipher(url(tls_mariadb, query=f"ssl_ca={tls_mariadb.ca}&ssl_verify_cert=true"))


def test_a_wrong_ca_is_one_line_naming_the_option(tls_mariadb, config, tmp_path):
    other_ca, _ = make_ca(tmp_path / "other")
    conf = config(database=url(tls_mariadb, query=f"ssl_ca={other_ca}"))
    result = run("resource-tracker", "--config-file", conf, "--once")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "[database] connection: the server's TLS certificate was not accepted" in result.stderr
    reasons = ("self-signed certificate in certificate chain", "unable to get local issuer")
    assert any(f"not accepted ({reason}" in result.stderr for reason in reasons)
    assert TRACKER_PASSWORD not in result.stderr
    assert "tracker:***@" in result.stderr


def test_the_host_name_is_checked_unless_told_not_to(tls_mariadb):
    # the certificate is issued to 127.0.0.1; "localhost" reaches the same server
    named = url(tls_mariadb, "localhost", f"ssl_ca={tls_mariadb.ca}")
    with (
        Database(named) as database,
        pytest.raises(DatabaseUnavailable, match=r"accepted .*match"),
    ):
        database.schema_revision()
    unnamed = url(tls_mariadb, "localhost", f"ssl_ca={tls_mariadb.ca}&ssl_check_hostname=false")
    assert cipher(unnamed)


def test_a_session_without_tls_is_refused_by_the_server(tls_mariadb):
    """The REQUIRE SSL above holds: so the audit's success was over TLS."""
    plain = url(tls_mariadb, query="ssl_disabled=true")
    with Database(plain) as database, pytest.raises(DatabaseUnavailable, match="1045"):
        database.schema_revision()


def test_a_missing_ca_file_stops_start_up_naming_the_option(config, tmp_path):
    missing = tmp_path / "no-such-ca.pem"
    conf = config(
        database=f"mysql+pymysql://tracker:{TRACKER_PASSWORD}@127.0.0.1/rt?ssl_ca={missing}"
    )
    result = run("resource-tracker", "--config-file", conf, "--once")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert f"[database] connection: ssl_ca={missing}: No such file or directory" in result.stderr
    assert TRACKER_PASSWORD not in result.stderr
