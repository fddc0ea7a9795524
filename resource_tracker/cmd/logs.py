"""The one logging set-up of both commands: one event, one line, escaped, bounded.

- A record is one line: a traceback is folded into it (its line breaks written as the two
  characters \\n), so under journald each record is one entry that keeps its priority, and
  a log file holds the whole event on the line grep finds.
- Control characters (C0, DEL, C1, the Unicode line and paragraph separators) are escaped
  in every record, wherever they come from: a disk path holding a newline and "<3>" cannot
  forge a journal entry, nor a line of a log file.
- A record is at most text.MAX_RECORD_CHARS (8,000) characters, at most 32,000 bytes of UTF-8:
  within journald's LineMax (48 KiB), so no record is split into several entries. A longer
  one keeps its start and its end (a traceback's last lines name the error) and says how
  much was cut from the middle.
- SQLAlchemy's pool logs an ERROR with a 30 to 75 line traceback when a pooled connection
  fails to reset (a killed server, a Galera node losing quorum), although the reconcile
  then fails or reconnects on its own and the daemon says so in one warning of its own.
  Records of the pool are one DEBUG line each, without the traceback.
"""

from __future__ import annotations

import logging
import os
import sys

from resource_tracker.text import one_line

SYSLOG_PRIORITIES = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3}


class OneLineFormatter(logging.Formatter):
    """Formats a record, its traceback included, as one escaped, bounded line; under
    journald with the <N> syslog priority journald reads (it stamps the time itself)."""

    def __init__(self, journal: bool):
        time = "" if journal else "%(asctime)s "
        super().__init__(f"{time}%(levelname)s %(name)s: %(message)s")
        self._journal = journal

    def format(self, record: logging.LogRecord) -> str:
        text = one_line(super().format(record))
        if self._journal:
            return f"<{SYSLOG_PRIORITIES.get(record.levelno, 2)}>{text}"
        return text


class _QuietPool(logging.Filter):
    """SQLAlchemy's pool speaks at DEBUG only, in one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("sqlalchemy.pool") or record.levelno <= logging.DEBUG:
            return True
        if not logging.getLogger().isEnabledFor(logging.DEBUG):
            return False
        if record.exc_info and record.exc_info[1] is not None:
            record.msg, record.args = f"{record.getMessage()}: {record.exc_info[1]}", None
        record.exc_info = record.exc_text = None
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True


def setup_logging(conf, default_level: int = logging.INFO) -> None:
    """Log to stderr (the journal under systemd) at `default_level`, DEBUG with `debug`."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(OneLineFormatter(journal=bool(os.environ.get("JOURNAL_STREAM"))))
    handler.addFilter(_QuietPool())
    root = logging.getLogger()
    ours = [each for each in root.handlers if isinstance(each.formatter, OneLineFormatter)]
    for earlier in ours:  # set up again (a test calling a command twice): still one line
        root.removeHandler(earlier)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if conf.debug else default_level)
