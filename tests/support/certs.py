"""A certificate authority and a server certificate made with openssl, for TLS tests."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import NamedTuple


class ServerCertificate(NamedTuple):
    ca: Path  # the CA's certificate: what a client trusts
    cert: Path
    key: Path


def _openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


def make_ca(directory: Path, name: str = "test-ca") -> tuple[Path, Path]:
    """A self-signed CA: its certificate and key."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / f"{name}.pem", directory / f"{name}-key.pem"
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}",
        "-keyout", key, "-out", cert,
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    return cert, key


def make_server_certificate(directory: Path, ip: str = "127.0.0.1") -> ServerCertificate:
    """A CA and a server certificate it signed, issued to `ip` (CN and subjectAltName)."""
    ca_cert, ca_key = make_ca(directory)
    cert, key, request = directory / "server.pem", directory / "server-key.pem", directory / "req"
    _openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={ip}",
        "-keyout", key, "-out", request,
    )  # fmt: skip
    extensions = directory / "server.ext"
    extensions.write_text(
        f"subjectAltName=IP:{ip}\nbasicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
    )
    _openssl(
        "x509", "-req", "-in", request, "-CA", ca_cert, "-CAkey", ca_key, "-CAcreateserial",
        "-days", "2", "-extfile", extensions, "-out", cert,
    )  # fmt: skip
    key.chmod(0o644)  # the server may run as another user than the test
    return ServerCertificate(ca_cert, cert, key)
