"""The daemon's loop: audits at a fixed rate, off the hub, never overlapping, never dying.

The only module that imports eventlet. An audit is plain blocking code (libvirt, file I/O,
the database); both its halves run in eventlet's thread pool while the hub stays free for
signals and timers.

- Audits start every `interval_s`, the first after a random delay of up to `fuzzy_delay_s`
  (a fleet restarted at once does not hit the database in step). An audit that overruns
  skips the ticks it missed; two audits never overlap.
- A failed audit is logged once per kind of failure, not once per period, and retried with
  exponential backoff: the next period, then twice that, up to max(interval, 5 minutes).
- SIGTERM or SIGINT: an audit still measuring is abandoned (nothing was written yet); one
  writing gets STOP_GRACE_S to commit, and a transaction cut short rolls back. Exit 0.
- SIGHUP: reload the settings that can change at run time; a bad config is logged and the
  running one kept.
- systemd: READY=1 once the loop runs, STATUS= after each audit, WATCHDOG=1 after each
  audit that finished (succeeded, or failed on an unavailable libvirt or database) and
  while idle between audits, never while an audit is stuck: systemd restarts a wedged
  loop, while an outage of a dependency, which a restart would not cure, is ridden out.
"""

from __future__ import annotations

import logging
import math
import os
import random
import signal
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    import eventlet
    from eventlet import hubs, queue, tpool

from resource_tracker.exception import ResourceTrackerError
from resource_tracker.metrics import HEALTHY_INTERVALS, Metrics
from resource_tracker.systemd import Notifier
from resource_tracker.tracker import AuditResult, HostPolicy, ResourceTracker

LOG = logging.getLogger(__name__)

STOP_GRACE_S = 10.0
MAX_BACKOFF_S = 300.0
HANDLED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


@dataclass(frozen=True, slots=True)
class Settings:
    """What the loop needs; all of it can change on SIGHUP."""

    interval_s: float
    fuzzy_delay_s: float
    policy: HostPolicy
    debug: bool


def next_start(last_start: float, last_end: float, interval_s: float, failures: int) -> float:
    """When the audit after one that ran from `last_start` to `last_end` is due."""
    if failures:
        backoff = interval_s * 2 ** min(failures - 1, 32)
        return last_start + min(backoff, max(interval_s, MAX_BACKOFF_S))
    due = last_start + interval_s
    if due < last_end:  # overran: skip the missed ticks, keep the rhythm
        due += math.ceil((last_end - due) / interval_s) * interval_s
    return due


class _Abandoned(Exception):
    """The service stopped while an audit was in the thread pool."""


class Service:
    def __init__(
        self,
        tracker: ResourceTracker,
        settings: Settings,
        reload_settings: Callable[[], Settings],
        notifier: Notifier | None = None,
        metrics: Metrics | None = None,
    ):
        self._tracker = tracker
        self._settings = settings
        self._reload_settings = reload_settings
        self._notifier = notifier or Notifier()
        self._metrics = metrics
        self._inbox = queue.LightQueue()
        self._stopping = False
        self._auditing = False
        self._threads_busy = 0
        self._calls = 0
        self._failures = 0
        self._last_failure: str | None = None
        self._last_start = 0.0
        self._last_end = 0.0
        self._due = 0.0

    def run(self, handle_signals: bool = True) -> int:
        """Audit until stopped; return the exit status."""
        if handle_signals:
            self._listen_for_signals()
        if self._notifier.watchdog_s:
            eventlet.spawn_n(self._ping_while_idle)
        delay = random.uniform(0, self._settings.fuzzy_delay_s)
        self._due = time.monotonic() + delay
        if self._metrics:
            self._metrics.expect_audit_by(
                self._due + HEALTHY_INTERVALS * self._settings.interval_s
            )
        LOG.info("started; first audit in %.1f s", delay)
        self._notifier.notify("READY=1", f"STATUS=first audit in {delay:.0f} s")
        while self._idle():
            self._last_start = time.monotonic()
            self._audit()
            self._last_end = time.monotonic()
            self._schedule()
        return self._stopped()

    def stop(self) -> None:
        """Stop as SIGTERM would; safe to call from the hub's thread only."""
        self._inbox.put(("signal", signal.SIGTERM))

    def _schedule(self) -> None:
        self._due = next_start(
            self._last_start, self._last_end, self._settings.interval_s, self._failures
        )

    def _idle(self) -> bool:
        """Handle signals until the next audit is due; False once the service is stopping."""
        while not self._stopping:
            remaining = self._due - time.monotonic()
            if remaining <= 0:
                return True
            self._handle(self._receive(remaining))
        return False

    def _audit(self) -> None:
        self._auditing = True
        try:
            measurement = self._in_thread(self._tracker.measure, abandon_on_stop=True)
            result = self._in_thread(self._tracker.record, measurement, abandon_on_stop=False)
        except _Abandoned as abandoned:
            LOG.warning("stopping: %s", abandoned)
        except Exception as error:
            self._failed(error)
        else:
            self._succeeded(result)
        finally:
            self._auditing = False

    def _in_thread(self, function: Callable, *args, abandon_on_stop: bool):
        """Run `function` in the thread pool, handling signals meanwhile; return its result."""
        self._calls += 1
        call = self._calls

        def runner():
            self._threads_busy += 1
            try:
                outcome = (True, tpool.execute(function, *args))
            except Exception as error:
                outcome = (False, error)
            finally:
                self._threads_busy -= 1
            self._inbox.put(("done", call, outcome))

        eventlet.spawn_n(runner)
        grace_ends = None
        while True:
            if self._stopping and abandon_on_stop:
                raise _Abandoned("audit abandoned before it wrote anything")
            if self._stopping and grace_ends is None:
                grace_ends = time.monotonic() + STOP_GRACE_S
            timeout = None if grace_ends is None else grace_ends - time.monotonic()
            if timeout is not None and timeout <= 0:
                raise _Abandoned(f"write not finished after {STOP_GRACE_S:.0f} s; rolled back")
            message = self._receive(timeout)
            if message and message[0] == "done" and message[1] == call:
                succeeded, value = message[2]
                if succeeded:
                    return value
                raise value
            self._handle(message)

    def _receive(self, timeout: float | None) -> tuple | None:
        try:
            return self._inbox.get(timeout=timeout)
        except queue.Empty:
            return None

    def _handle(self, message: tuple | None) -> None:
        """Act on a signal; drop the result of a call that was abandoned."""
        if not message or message[0] != "signal":
            return
        signum = message[1]
        if signum == signal.SIGHUP:
            self._reload()
        elif not self._stopping:
            LOG.info("%s received: stopping", signal.Signals(signum).name)
            self._stopping = True
            self._notifier.notify("STOPPING=1")

    def _succeeded(self, result: AuditResult) -> None:
        if self._failures:
            LOG.info("audit succeeded after %d failed attempt(s)", self._failures)
        self._failures, self._last_failure = 0, None
        summary = result.summary()
        LOG.info("audit: %s", summary)
        if self._metrics:
            self._metrics.audit_succeeded(result, self._settings.interval_s)
        self._notifier.notify(f"STATUS={summary}", "WATCHDOG=1")

    def _failed(self, error: Exception) -> None:
        self._failures += 1
        if self._metrics:
            self._metrics.audit_failed(error)
        message = str(error) or type(error).__name__
        if message != self._last_failure:
            LOG.warning(
                "audit failed: %s; retrying with backoff",
                message,
                exc_info=None if isinstance(error, ResourceTrackerError) else error,
            )
            self._last_failure = message
        else:
            LOG.debug("audit failed again (%d in a row): %s", self._failures, message)
        self._notifier.notify(f"STATUS=audit failed: {message}", "WATCHDOG=1")

    def _reload(self) -> None:
        try:
            settings = self._reload_settings()
        except Exception as error:
            LOG.error("configuration not reloaded, the running one is kept: %s", error)
            return
        self._settings = settings
        self._tracker.policy = settings.policy
        if self._last_end:  # before the first audit, its due time stands
            self._schedule()
        logging.getLogger().setLevel(logging.DEBUG if settings.debug else logging.INFO)
        LOG.info("configuration reloaded; audits every %s s", settings.interval_s)

    def _ping_while_idle(self) -> None:
        while not self._stopping:
            eventlet.sleep(self._notifier.watchdog_s / 2)
            if not self._auditing:
                self._notifier.notify("WATCHDOG=1")

    def _listen_for_signals(self) -> None:
        """Signals reach the hub through a pipe, so handlers never run inside hub code."""
        read_fd, write_fd = os.pipe()
        os.set_blocking(read_fd, False)
        os.set_blocking(write_fd, False)
        signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
        for signum in HANDLED_SIGNALS:
            signal.signal(signum, lambda *_: None)
        eventlet.spawn_n(self._read_signals, read_fd)

    def _read_signals(self, read_fd: int) -> None:
        while True:
            hubs.trampoline(read_fd, read=True)
            try:
                received = os.read(read_fd, 64)
            except BlockingIOError:
                continue
            for signum in received:
                self._inbox.put(("signal", signum))

    def _stopped(self) -> int:
        LOG.info("stopped")
        self._notifier.notify("STATUS=stopped")
        if self._threads_busy:
            # A call stuck in the thread pool would hang eventlet's exit handler, which
            # joins every pool thread; nothing is left to flush but the logs.
            logging.shutdown()
            os._exit(0)
        return 0
