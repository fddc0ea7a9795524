"""[metrics]: the daemon's Prometheus endpoint and health check."""

from oslo_config import cfg, types

GROUP = "metrics"
# PORT, or ADDRESS:PORT with a host name, an IPv4 address or a [bracketed] IPv6 address
LISTEN_PATTERN = r"^((\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):)?\d{1,5}$"


class Listen(types.String):
    """Empty, or PORT or ADDRESS:PORT with a port from 1 to 65535."""

    def __init__(self):
        super().__init__(regex=f"^$|{LISTEN_PATTERN}")

    def __call__(self, value):
        value = super().__call__(value)
        port = int(value.rpartition(":")[2]) if value else 1
        if not 1 <= port <= 65535:
            raise ValueError(f"port {port} is not between 1 and 65535")
        return value


opts = [
    cfg.Opt(
        "listen",
        type=Listen(),
        default="",
        help="Serve Prometheus metrics on /metrics and a health check on /healthz at PORT "
        "(on 127.0.0.1) or ADDRESS:PORT, e.g. 9178 or [::]:9178. Empty: no endpoint.",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(opts, group=GROUP)
