"""[database] connection's TLS parameters: taken out of the URL, or refused in one line."""

from __future__ import annotations

import ssl

import pytest
from sqlalchemy import event
from sqlalchemy.engine import make_url

from resource_tracker.db import tls
from resource_tracker.db.engine import make_engine
from resource_tracker.exception import ConfigError
from tests.support.certs import make_server_certificate

BASE = "mysql+pymysql://tracker:pw@db.example.org/rt"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    return make_server_certificate(tmp_path_factory.mktemp("certs"))


def test_no_parameter_no_tls():
    url = make_url(f"{BASE}?charset=utf8mb4")
    assert tls.take(url) == (url, None)


def test_the_parameters_become_one_verifying_context(certificate):
    url = make_url(f"{BASE}?charset=utf8mb4&ssl_ca={certificate.ca}&ssl_verify_cert=true")
    rest, context = tls.take(url)
    assert dict(rest.query) == {"charset": "utf8mb4"}
    assert context is not None
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert [ca["subject"] for ca in context.get_ca_certs()] == [((("commonName", "test-ca"),),)]


def test_the_name_check_may_be_turned_off(certificate):
    for name in ("ssl_check_hostname", "ssl_verify_identity"):
        _, context = tls.take(make_url(f"{BASE}?ssl_ca={certificate.ca}&{name}=false"))
        assert context is not None and not context.check_hostname
        assert context.verify_mode == ssl.CERT_REQUIRED


def test_the_engine_hands_the_context_to_pymysql(certificate):
    engine = make_engine(f"{BASE}?ssl_ca={certificate.ca}")
    seen: dict = {}

    def capture(_dialect, _record, _args, kwargs):
        seen.update(kwargs)
        raise LookupError("captured")  # connect no further

    event.listen(engine, "do_connect", capture)
    with pytest.raises(LookupError):
        engine.connect()
    engine.dispose()
    assert isinstance(seen["ssl"], ssl.SSLContext)
    assert seen["ssl"].verify_mode == ssl.CERT_REQUIRED
    assert not any(name.startswith("ssl_") for name in seen)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("ssl_ca={missing}", "ssl_ca={missing}: No such file or directory"),
        ("ssl_ca={not_pem}", "ssl_ca={not_pem}: "),
        ("ssl_ca={ca}&ssl_cert={missing}", "ssl_cert={missing}: No such file or directory"),
        ("ssl_ca={ca}&ssl_key={key}", "ssl_key without ssl_cert"),
        ("ssl_ca={ca}&ssl_cipher=NO-SUCH-CIPHER", "ssl_cipher=NO-SUCH-CIPHER: "),
        ("ssl_verify_cert=false", "ssl_verify_cert=false is not offered"),
        ("ssl_ca={ca}&ssl_check_hostname=maybe", "ssl_check_hostname='maybe' is not true"),
        ("ssl_ca={ca}&ssl_ca={ca}", "ssl_ca is given 2 times"),
    ],
)
def test_unusable_parameters_are_one_line_naming_the_option(
    certificate, tmp_path, query, expected
):
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("hello\n")
    names = {"missing": tmp_path / "missing.pem", "not_pem": not_pem, **certificate._asdict()}
    problem = tls.problem(f"{BASE}?{query.format(**names)}")
    assert problem is not None
    assert problem.startswith("[database] connection: ")
    assert expected.format(**names) in problem
    assert "\n" not in problem and "pw" not in problem.replace("password", "")
    with pytest.raises(ConfigError, match=r"^\[database\] connection: "):
        make_engine(f"{BASE}?{query.format(**names)}")


def test_sqlite_has_no_tls():
    assert tls.problem("sqlite:////tmp/x.sqlite?ssl_ca=/etc/ca.pem") == (
        "[database] connection: ssl_ca apply to MySQL/MariaDB only"
    )
