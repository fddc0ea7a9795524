# ruff: noqa: E501  (keystoneauth1's help texts, verbatim)
"""keystoneauth1's options of [placement] (session, auth, adapter), as its `loading` helpers
register them with Nova's defaults, written out: importing keystoneauth1 costs the daemon
~8.5 MiB (requests, urllib3, ...) that it needs only to report to Placement (issue 21).
tests/unit/conf/test_placement_ksa.py checks they equal keystoneauth1's, option by option."""

from __future__ import annotations

from oslo_config import cfg, types

OPTS = [
    cfg.Opt(
        "auth_section",
        type=str,  # type: ignore[arg-type]  # keystoneauth1 passes str
        help="Config Section from which to load plugin specific options",
    ),
    cfg.Opt(
        "auth_type",
        type=str,  # type: ignore[arg-type]  # keystoneauth1 passes str
        deprecated_opts=[cfg.DeprecatedOpt("auth_plugin")],
        help="Authentication type to load",
    ),
    cfg.StrOpt(
        "cafile", help="PEM encoded Certificate Authority to use when verifying HTTPs connections."
    ),
    cfg.StrOpt("certfile", help="PEM encoded client certificate cert file"),
    cfg.BoolOpt("collect-timing", default=False, help="Collect per-API call timing information."),
    cfg.IntOpt(
        "connect-retries",
        help="The maximum number of retries that should be attempted for connection errors.",
    ),
    cfg.FloatOpt(
        "connect-retry-delay",
        help="Delay (in seconds) between two retries for connection errors. If not set, exponential retry starting with 0.5 seconds up to a maximum of 60 seconds is used.",
    ),
    cfg.StrOpt(
        "endpoint-override",
        help="Always use this endpoint URL for requests for this client. NOTE: The unversioned endpoint should be specified here; to request a particular API version, use the `version`, `min-version`, and/or `max-version` options.",
    ),
    cfg.BoolOpt("insecure", default=False, help="Verify HTTPS connections."),
    cfg.StrOpt("keyfile", help="PEM encoded client certificate key file"),
    cfg.StrOpt(
        "max-version",
        help="The maximum major version of a given API, intended to be used as the upper bound of a range with min_version. Mutually exclusive with version.",
    ),
    cfg.StrOpt(
        "min-version",
        help='The minimum major version of a given API, intended to be used as the lower bound of a range with max_version. Mutually exclusive with version. If min_version is given with no max_version it is as if max version is "latest".',
    ),
    cfg.StrOpt("region-name", help="The default region_name for endpoint URL discovery."),
    cfg.ListOpt(
        "retriable-status-codes",
        item_type=types.Integer(),
        help="List of retriable HTTP status codes that should be retried. If not set default to `[503]`",
    ),
    cfg.StrOpt("service-name", help="The default service_name for endpoint URL discovery."),
    cfg.StrOpt(
        "service-type",
        default="placement",
        help="The default service_type for endpoint URL discovery.",
    ),
    cfg.BoolOpt("split-loggers", default=False, help="Log requests to multiple loggers."),
    cfg.IntOpt(
        "status-code-retries",
        help="The maximum number of retries that should be attempted for retriable HTTP status codes.",
    ),
    cfg.FloatOpt(
        "status-code-retry-delay",
        help="Delay (in seconds) between two retries for retriable status codes. If not set, exponential retry starting with 0.5 seconds up to a maximum of 60 seconds is used.",
    ),
    cfg.FloatOpt("timeout", help="Timeout value for http requests"),
    cfg.StrOpt(
        "tls-ciphers",
        help="An OpenSSL cipher string to set the allowed ciphers for TLS connections. If not specified, the default ciphers from the underlying OpenSSL library are used.",
    ),
    cfg.StrOpt(
        "tls-min-version",
        choices=[
            (None, "None - the absence of a setting, defers to the system cryptographic policy"),
            ("1.2", "TLS 1.2 - enforce minimum TLS version 1.2"),
            ("1.3", "TLS 1.3 - enforce minimum TLS version 1.3"),
        ],
        help="The minimum TLS version to require for TLS connections. When not specified, the behavior is undefined and defers to the system cryptographic policy.",
    ),
    cfg.ListOpt(
        "valid-interfaces",
        item_type=types.String(),
        default=["internal", "public"],
        help="List of interfaces, in order of preference, for endpoint URL.",
    ),
    cfg.StrOpt(
        "version",
        help="Minimum Major API version within a given Major API version for endpoint URL discovery. Mutually exclusive with min_version and max_version",
    ),
]
