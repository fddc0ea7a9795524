"""Entry points, and the helpers both commands share.

Only light modules are imported at the top of this one: the daemon's entry point catches
SIGHUP before anything slow loads (oslo.config, SQLAlchemy and libvirt take about a second
on a busy host), so a reload asked for while the daemon starts waits for the loop instead of
killing the process.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import signal
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, NoReturn, TypeVar

from resource_tracker.cmd.logs import setup_logging  # noqa: F401 - for both commands
from resource_tracker.daemon.signals import SignalPipe
from resource_tracker.exception import ConfigError
from resource_tracker.text import one_line

T = TypeVar("T")

if TYPE_CHECKING:
    from oslo_config import cfg

    from resource_tracker.audit.last_audit import LastAuditFile
    from resource_tracker.db.api import Database


def start_daemon() -> int:
    """The resource-tracker command."""
    signals = SignalPipe()
    signals.catch(signal.SIGHUP)
    from resource_tracker.cmd import daemon

    return daemon.main(signals=signals)


def within(limit_s: float, call: Callable[[], T], timed_out: Callable[[], Exception]) -> T:
    """call() in a thread of its own, waited for at most `limit_s`: its result, or what it
    raised (SystemExit included); if it has not returned by then, timed_out() is raised and
    the thread is left to finish on its own (it holds no lock anyone waits for)."""
    outcome: list = []

    def run() -> None:
        try:
            outcome.append((True, call()))
        except BaseException as error:  # re-raised in the caller's thread
            outcome.append((False, error))

    thread = threading.Thread(target=run, name="bounded-call", daemon=True)
    thread.start()
    thread.join(limit_s)
    if not outcome:
        raise timed_out()
    succeeded, value = outcome[0]
    if not succeeded:
        raise value
    return value


def load_config(
    argv: list[str] | None,
    cli_opts=(),
    description: str | None = None,
    every_credential: bool = True,
):
    """Build and load the config; exit with one line (status 2) if it cannot be used
    (`every_credential`: see conf.load)."""
    from resource_tracker import conf as rt_conf

    conf = rt_conf.make_config()
    for opt in cli_opts:
        conf.register_cli_opt(opt)
    args = sys.argv[1:] if argv is None else argv
    if "--shell_completion" in args:
        fail(
            "there is no --shell_completion option: bash completion ships as a file "
            "(etc/bash_completion.d; docs/cli.md says where it goes)",
            status=2,
        )
    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors):
            rt_conf.load(conf, args, description=description, every_credential=every_credential)
    except ConfigError as error:
        fail(error, status=2)
    except SystemExit as leaving:  # argparse: --help, --version, or a usage error
        if leaving.code in (0, None):
            sys.stderr.write(errors.getvalue())
            raise
        fail(usage_error(errors.getvalue()), status=2)
    return conf


def usage_error(printed: str) -> str:
    """argparse's usage and error lines as one line that says what to do."""
    usage, _, error = printed.rstrip().rpartition("\n")
    found = re.match(r"(?P<prog>.+?): error: (?P<message>.*)", error)
    if not found:
        return one_line(printed.strip())
    prog, message = found["prog"], found["message"]
    choices = re.findall(r"\{([^{}]+)\}", usage)
    missing = re.fullmatch(r"the following arguments are required: (category|action)", message)
    if missing:
        what = "a command" if missing[1] == "category" else "what to do"
        message = f"give {what}" + (f": {choices[-1].replace(',', ', ')}" if choices else "")
    message = re.sub(r"^argument (?:category|action): ", "", message)
    message = re.sub(r"^argument ([-/\w]+): ", r"\1: ", message)
    # "invalid size value: 'x'" names argparse's type function; say what was wanted
    message = re.sub(r"invalid (int|float) value: ", "not a number: ", message)
    message = re.sub(r"invalid ([\w ]+) value: ", r"not a \1: ", message)
    command = prog.partition(" ")[2]
    return f"{command + ': ' if command else ''}{message} (see {prog} --help)"


def fail(error: object, status: int = 1) -> NoReturn:
    """Leave with one line on stderr naming the program, and a non-zero status."""
    print(f"{os.path.basename(sys.argv[0])}: {one_line(str(error))}", file=sys.stderr)
    raise SystemExit(status)


# The daemon's reconcile of an unchanged host is the heartbeat alone (or nothing, while
# the last is younger than report_interval), but for every tenth audit, which reads the
# rows: a row changed by hand is put back within 10 audits.
FULL_READ_EVERY = 10


def open_database(
    conf: cfg.ConfigOpts, full_read_every: int = 1, report_interval_s: float = 0
) -> Database:
    """The [database] options as a Database (connections are opened when first used)."""
    from resource_tracker.db.api import Database
    from resource_tracker.db.retry import RetryPolicy

    return Database(
        conf.database.connection,
        retry=RetryPolicy(attempts=conf.database.db_max_retries + 1),
        full_read_every=full_read_every,
        report_interval_s=report_interval_s,
    )


def require_schema(database: Database) -> None:
    """Stop with one line unless the schema is there: never an SQLite file made by asking,
    never "no such table"."""
    if database.is_new_sqlite():
        fail(
            f"database {database.masked_url} has no schema: run `resource-tracker-manage db sync`"
        )
    database.check_schema()


def last_audit_file(conf: cfg.ConfigOpts) -> LastAuditFile:
    """Where this host's daemon keeps its last audit's per-disk breakdown."""
    from resource_tracker.audit import last_audit

    return last_audit.LastAuditFile(os.path.join(conf.state_path, last_audit.FILE_NAME))
