"""[metrics]: the daemon's Prometheus endpoint and health check."""

from oslo_config import cfg, types

GROUP = "metrics"
# PORT, or ADDRESS:PORT with a host name, an IPv4 address or a [bracketed] IPv6 address
LISTEN_PATTERN = r"^((\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):)?\d{1,5}$"

opts = [
    cfg.Opt(
        "listen",
        type=types.String(regex=f"^$|{LISTEN_PATTERN}"),
        default="",
        help="Serve Prometheus metrics on /metrics and a health check on /healthz at PORT "
        "(on 127.0.0.1) or ADDRESS:PORT, e.g. 9178 or [::]:9178. Empty: no endpoint.",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(opts, group=GROUP)
