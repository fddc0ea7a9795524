"""Entry points. Helpers shared by both commands live here."""

from __future__ import annotations

import logging
import os
import sys

from oslo_config import cfg

from resource_tracker import conf as rt_conf
from resource_tracker import last_audit
from resource_tracker.db.api import Database
from resource_tracker.db.retry import RetryPolicy
from resource_tracker.exception import ConfigError
from resource_tracker.last_audit import LastAuditFile


def load_config(argv: list[str] | None, cli_opts=(), description: str | None = None):
    """Build and load the config; exit with one line (status 2) if it cannot be used."""
    conf = rt_conf.make_config()
    for opt in cli_opts:
        conf.register_cli_opt(opt)
    try:
        rt_conf.load(conf, sys.argv[1:] if argv is None else argv, description=description)
    except ConfigError as error:
        fail(error, status=2)
    return conf


def fail(error: object, status: int = 1):
    """Leave with one line on stderr naming the program, and a non-zero status."""
    print(f"{os.path.basename(sys.argv[0])}: {error}", file=sys.stderr)
    raise SystemExit(status)


SYSLOG_PRIORITIES = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3}


class JournalFormatter(logging.Formatter):
    """journald reads a leading <N> as the line's syslog priority, and stamps the time itself."""

    def format(self, record: logging.LogRecord) -> str:
        priority = SYSLOG_PRIORITIES.get(record.levelno, 2)
        return f"<{priority}>{super().format(record)}"


def setup_logging(conf: cfg.ConfigOpts, default_level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if os.environ.get("JOURNAL_STREAM"):
        handler.setFormatter(JournalFormatter("%(levelname)s %(name)s: %(message)s"))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if conf.debug else default_level)


def open_database(conf: cfg.ConfigOpts) -> Database:
    """The [database] options as a Database (connections are opened when first used)."""
    return Database(
        conf.database.connection, retry=RetryPolicy(attempts=conf.database.db_max_retries + 1)
    )


def last_audit_file(conf: cfg.ConfigOpts) -> LastAuditFile:
    """Where this host's daemon keeps its last audit's per-disk breakdown."""
    return LastAuditFile(os.path.join(conf.state_path, last_audit.FILE_NAME))
