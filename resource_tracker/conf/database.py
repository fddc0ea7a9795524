"""[database]: where compute_nodes lives."""

from oslo_config import cfg

GROUP = "database"

opts = [
    cfg.StrOpt(
        "connection",
        default="sqlite:///$state_path/resource_tracker.sqlite",
        secret=True,
        help="SQLAlchemy URL of the database holding compute_nodes and services, e.g. "
        "mysql+pymysql://tracker:PASSWORD@db.example.org/resource_tracker?charset=utf8mb4",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(opts, group=GROUP)
