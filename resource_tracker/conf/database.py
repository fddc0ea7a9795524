"""[database]: where compute_nodes lives, and how hard a reconcile tries against other writers."""

from oslo_config import cfg

from resource_tracker.db import tls
from resource_tracker.db.engine import url_problem
from resource_tracker.exception import ConfigError

GROUP = "database"

opts = [
    cfg.StrOpt(
        "connection",
        default="sqlite:///$state_path/resource_tracker.sqlite",
        secret=True,
        help="SQLAlchemy URL of the database holding compute_nodes and services: "
        "sqlite:///PATH, or mysql+pymysql://tracker:PASSWORD@db.example.org/resource_tracker"
        " for MySQL/MariaDB (PyMySQL sends the password as Latin-1).",
    ),
    cfg.IntOpt(
        "db_max_retries",
        default=5,
        min=0,
        max=20,
        help="How many times a reconcile's transaction is run again when the database rolled "
        "it back because of other writers (InnoDB deadlock 1213 or lock wait timeout 1205, "
        "Galera certification conflict, SQLite busy), after a random pause that doubles each "
        "time, as long as 20 s have not passed since the first run began. A database that is "
        "down is not retried here: the next audit tries again.",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(opts, group=GROUP)


def check(conf: cfg.ConfigOpts) -> None:
    """Raise ConfigError for a URL the database layer could not open."""
    problem = url_problem(conf.database.connection)
    if problem is None:
        problem = tls.problem(conf.database.connection)
        if problem is not None:  # names the option itself
            raise ConfigError(problem)
    if problem:
        raise ConfigError(f"[database] connection: {problem}")
