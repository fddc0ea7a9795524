"""TLS to MySQL/MariaDB, asked for in `[database] connection`'s query, as with Nova's URLs.

Any of these parameters makes the connection TLS with the server's certificate verified,
against `ssl_ca` (a PEM file) or `ssl_capath` (a hashed directory), else the system's CAs,
and its name checked against the URL's host unless `ssl_check_hostname=false`:

    ssl_ca, ssl_capath, ssl_cert, ssl_key, ssl_cipher, ssl_check_hostname,
    ssl_verify_cert (PyMySQL's name; only true), ssl_verify_identity (= ssl_check_hostname)

We build the SSLContext ourselves, once per engine, and take the parameters out of the URL:
left to the drivers, `?ssl_ca=F&ssl_verify_cert=true` (oslo.db's documented spelling) makes
PyMySQL replace SQLAlchemy's CA with the system's, and refuse a private CA's server; and a
missing file would surface at the first connection as a raw FileNotFoundError.
"""

from __future__ import annotations

import contextlib
import re
import ssl
from collections.abc import Iterator, Sequence

from sqlalchemy.engine import URL, make_url
from sqlalchemy.util import asbool

from resource_tracker.exception import ConfigError

FILES = ("ssl_ca", "ssl_capath", "ssl_cert", "ssl_key")
SWITCHES = ("ssl_check_hostname", "ssl_verify_identity", "ssl_verify_cert")
PARAMETERS = (*FILES, "ssl_cipher", *SWITCHES)
OPTION = "[database] connection"
_VERIFY_FAILED = re.compile(r"certificate verify failed: ([^(\"]*?)\s*(?:\(_ssl|[\")]|$)")


def take(url: URL) -> tuple[URL, ssl.SSLContext | None]:
    """`url` without our TLS parameters, and the context they ask for (None: none given).
    Raises ConfigError, one line naming the option, for parameters that cannot be used."""
    given = {name: url.query[name] for name in PARAMETERS if name in url.query}
    if not given:
        return url, None
    if url.get_backend_name() == "sqlite":
        raise ConfigError(f"{OPTION}: {', '.join(given)} apply to MySQL/MariaDB only")
    values: dict[str, str] = {}
    for name, value in given.items():
        if not isinstance(value, str):
            raise ConfigError(f"{OPTION}: {name} is given {len(value)} times")
        values[name] = value
    return url.difference_update_query(list(given)), _context(values)


def problem(url: str | URL) -> str | None:
    """Why the URL's TLS parameters cannot be used, in one line; None if they can."""
    try:
        take(make_url(url))
    except ConfigError as error:
        return str(error)
    return None


def explained(detail: str) -> str | None:
    """For a server certificate the client refused: one line saying what to check."""
    found = _VERIFY_FAILED.search(detail)
    if not found:
        return None
    return (
        f"{OPTION}: the server's TLS certificate was not accepted ({found.group(1)}): "
        "ssl_ca must hold the CA that signed it, and the URL's host a name it is issued to "
        "(ssl_check_hostname=false checks the CA only)"
    )


def _context(values: dict[str, str]) -> ssl.SSLContext:
    switches = {name: _switch(name, values[name]) for name in SWITCHES if name in values}
    if switches.get("ssl_verify_cert") is False:
        raise ConfigError(
            f"{OPTION}: ssl_verify_cert=false is not offered: an unverified server could be "
            "anyone's, and the password goes to it; give ssl_ca (the CA of its certificate)"
        )
    if "ssl_key" in values and "ssl_cert" not in values:
        raise ConfigError(f"{OPTION}: ssl_key without ssl_cert (the client certificate)")
    check_hostname = switches.get("ssl_check_hostname", switches.get("ssl_verify_identity", True))
    cas = [name for name in ("ssl_ca", "ssl_capath") if name in values]
    with _naming(values, cas):
        context = ssl.create_default_context(
            cafile=values.get("ssl_ca"), capath=values.get("ssl_capath")
        )
    # as PyMySQL does: Python 3.13's strict checks refuse the certificates MySQL and MariaDB
    # make for themselves, which Nova's connections accept
    context.verify_flags &= ~ssl.VERIFY_X509_STRICT
    context.check_hostname = check_hostname
    if "ssl_cert" in values:
        with _naming(values, [name for name in ("ssl_cert", "ssl_key") if name in values]):
            context.load_cert_chain(values["ssl_cert"], values.get("ssl_key"))
    if "ssl_cipher" in values:
        with _naming(values, ["ssl_cipher"]):
            context.set_ciphers(values["ssl_cipher"])
    return context


@contextlib.contextmanager
def _naming(values: dict[str, str], names: Sequence[str]) -> Iterator[None]:
    """Turn an OSError (ssl.SSLError too: not PEM, a cipher unknown) into one line naming
    the parameters the step used."""
    try:
        yield
    except OSError as error:
        if isinstance(error, ssl.SSLError):
            reason = getattr(error, "reason", None) or error.args[-1]
        else:
            reason = error.strerror or str(error)
        named = " / ".join(f"{name}={values[name]}" for name in names) or "the system's CAs"
        raise ConfigError(f"{OPTION}: {named}: {reason}") from None


def _switch(name: str, value: str) -> bool:
    try:
        return asbool(value)
    except ValueError:
        raise ConfigError(f"{OPTION}: {name}={value!r} is not true or false") from None
