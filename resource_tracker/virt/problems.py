"""A log of per-file problems that does not repeat itself every audit."""

from __future__ import annotations

import logging


class ProblemLog:
    """Warns of a file's problem when it first appears or changes, not at every audit.

    A problem still there at the next audit is logged at debug level only; one that went
    away and came back is a warning again. Only the last audit's problems are remembered.
    """

    def __init__(self, logger: logging.Logger):
        self._logger = logger
        self._last: set[tuple[str, str]] = set()
        self._current: set[tuple[str, str]] = set()

    def report(self, path: str, message: str, *args) -> None:
        key = (path, message % args)
        level = logging.DEBUG if key in self._last else logging.WARNING
        self._current.add(key)
        self._logger.log(level, key[1])

    def end_audit(self) -> None:
        self._last, self._current = self._current, set()
