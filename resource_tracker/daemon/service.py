"""The daemon's loop: audits at a fixed rate, off the hub, never overlapping, never dying.

The only module that imports eventlet. An audit is plain blocking code (libvirt, file I/O,
the database); each of its halves (the measurement, the write) runs in eventlet's thread
pool under a deadline while the hub stays free for signals, timers and the watchdog.

- Audits start every `interval_s`, the first after a random delay of up to `fuzzy_delay_s`
  (a fleet restarted at once does not hit the database in step). An audit that overruns
  skips the ticks it missed; two audits never overlap.
- A half still running after an interval (or half its deadline) says once what it waits
  on; one still running at its deadline (timeouts.CALL_DEADLINE_S) is abandoned: the audit
  fails naming the call and the dependency, the thread is left to finish on its own, and
  that half is not started again until it has (audits meanwhile fail at once), so stuck
  threads never pile up.
- With a Doorbell, libvirt's events (a domain started, defined, a disk attached, a node
  device added, ...) call for an audit soon, besides the periodic ones: debounced, at most
  one in flight and one a second under a storm (schedule.event_audit_due); not while
  audits fail (the backoff holds). An event audit starts the period afresh.
- While audits succeed, the heartbeat is written on its own every report_interval between
  them (the tracker says when it is due), in the write's half, as Nova's report_state: a
  host with a long period still looks alive, and an outage of the database is met within
  report_interval (a failed heartbeat is a failed audit: logged, counted, backed off).
- After each periodic audit that succeeded, the driver's sweep re-reads a share of what the
  audits keep (domain XML, for the changes libvirt sends no event for) in the measurement's
  thread, off the audit's path: a change it finds calls for an audit soon, as an event does.
- A failed audit is logged once per kind of failure, not once per period, and retried with
  exponential backoff: the next period, then twice that, up to max(interval, 5 minutes).
- SIGTERM or SIGINT: an audit still measuring is abandoned (nothing was written yet); one
  writing gets timeouts.STOP_GRACE_S to commit, and a transaction cut short rolls back.
- SIGHUP: reload the settings that can change at run time; a bad config is logged and the
  running one kept. systemd hears RELOADING=1, then READY=1.
- systemd: READY=1 once the loop runs, STATUS= after each audit, WATCHDOG=1 every half
  watchdog interval from the loop's own waits, idle or waiting for a call (which has a
  deadline): it means the loop is healthy. A failing dependency shows in STATUS=, the log,
  metrics and /healthz, never in a restart, which would not cure it. A fault only a person
  can cure (error.needs_operator: a grant, a full disk, `db sync`) says so in STATUS= and
  turns /healthz to 503 at once.
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
from typing import Any

# The loop resolves no names on the hub (the database and libvirt are reached from threads):
# without green DNS eventlet does not load dnspython, 11 MiB of the daemon's memory.
os.environ.setdefault("EVENTLET_NO_GREENDNS", "yes")
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    import eventlet
    from eventlet import hubs, queue, tpool

from resource_tracker import timeouts
from resource_tracker.audit.tracker import AuditResult, ResourceTracker
from resource_tracker.daemon import malloc
from resource_tracker.daemon.audit_log import AuditLog
from resource_tracker.daemon.doorbell import Doorbell, Rung
from resource_tracker.daemon.metrics import HEALTHY_INTERVALS, Metrics
from resource_tracker.daemon.schedule import Pending, Settings, event_audit_due, next_start
from resource_tracker.daemon.signals import SignalPipe
from resource_tracker.daemon.systemd import Notifier
from resource_tracker.exception import ResourceTrackerError, SchemaNotCurrent

LOG = logging.getLogger(__name__)

# eventlet's pool starts 20 threads; each half of the audit needs one, and an abandoned call
# keeps its thread (its half starts no other until it returns): 4 is room to spare, and
# fewer threads touch fewer malloc arenas (RSS).
POOL_THREADS = 4
tpool.set_num_threads(POOL_THREADS)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class _Abandoned(Exception):
    """The service stopped while an audit was in the thread pool."""


class _Half:
    """One half of the audit as a call in the thread pool; one thread at most runs it."""

    def __init__(self, name: str, writing: bool):
        self.name = name
        self.writing = writing
        self.started: float | None = None  # while a thread runs it, abandoned or not
        self.abandoned: int | None = None  # the call left to finish on its own


@dataclass(frozen=True, slots=True)
class CallDone:
    """A call in the thread pool returned `value`, or raised `error`."""

    call: int
    half: _Half
    started: float
    value: Any = None
    error: Exception | None = None


@dataclass(frozen=True, slots=True)
class SignalArrived:
    signum: int


@dataclass(frozen=True, slots=True)
class EventsArrived:
    rung: Rung


Message = CallDone | SignalArrived | EventsArrived  # what the loop's inbox carries


class Service:
    def __init__(
        self,
        tracker: ResourceTracker,
        settings: Settings,
        reload_settings: Callable[[], Settings],
        signals: SignalPipe | None = None,
        notifier: Notifier | None = None,
        metrics: Metrics | None = None,
        waiting: SchemaNotCurrent | None = None,
        doorbell: Doorbell | None = None,
    ):
        self._tracker = tracker
        self._settings = settings
        self._audit_log = AuditLog()
        self._reload_settings = reload_settings
        self._signals = signals
        self._notifier = notifier or Notifier()
        self._metrics = metrics
        watchdog_s = self._notifier.watchdog_s
        self._ping_every = watchdog_s / 2 if watchdog_s else None
        self._deadline_s = min(timeouts.CALL_DEADLINE_S, self._ping_every or math.inf)
        self._next_ping = 0.0
        self._measuring = _Half("measurement", writing=False)
        self._writing = _Half("write", writing=True)
        self._inbox: queue.LightQueue = queue.LightQueue()  # of Message
        self._stopping = False
        self._calls = 0
        self._failures = 0
        # `waiting`: the start-up check found a schema not to write into, and logged it
        self._last_failure: object = str(waiting) if waiting else None
        self._schema_wait = waiting is not None  # retried each period, not with backoff
        self._waiting = waiting
        self._last_start = 0.0
        self._last_end = 0.0
        self._due = 0.0
        self._doorbell = doorbell
        self._pending: Pending | None = None  # events no audit started since
        self._trigger = "period"  # of the audit about to run or running

    def run(self) -> int:
        """Audit until stopped; return the exit status."""
        if self._signals is not None:
            self._signals.catch(*STOP_SIGNALS)
            eventlet.spawn_n(self._read_signals, self._signals)
        listening = None
        if self._doorbell is not None:
            listening = eventlet.spawn(self._read_events, self._doorbell)
        delay = random.uniform(0, self._settings.fuzzy_delay_s)
        self._due = time.monotonic() + delay
        if self._metrics:
            self._metrics.expect_audit_by(
                self._due + HEALTHY_INTERVALS * self._settings.interval_s,
                self._settings.interval_s,
            )
        LOG.info("started; first audit in %.1f s", delay)
        status = f"{self._waiting}; checked again" if self._waiting else "first audit"
        self._notifier.notify("READY=1", f"STATUS={status} in {delay:.0f} s")
        self._ping_if_due()
        while self._idle():
            self._last_start = time.monotonic()
            covered, self._pending = self._pending, None
            self._audit(covered)
            self._last_end = time.monotonic()
            self._schedule()
            if self._trigger == "period" and not self._failures and not self._stopping:
                self._sweep()
        if listening is not None:
            listening.kill()
        return self._stopped()

    def stop(self) -> None:
        """Stop as SIGTERM would; safe to call from the hub's thread only."""
        self._inbox.put(SignalArrived(signal.SIGTERM))

    def _schedule(self) -> None:
        failures = 0 if self._schema_wait else self._failures  # db sync or an upgrade cures it
        self._due = next_start(
            self._last_start, self._last_end, self._settings.interval_s, failures
        )

    def _idle(self) -> bool:
        """Handle signals and events until the next audit is due; False once the service is
        stopping."""
        while not self._stopping:
            due, self._trigger = self._due, "period"
            after_events = self._event_audit_due()
            if after_events is not None and after_events < due:
                due, self._trigger = after_events, "event"
            beat = self._beat_due()
            now = time.monotonic()
            if beat is not None and beat < due:
                if beat <= now:
                    self._beat()
                    continue
                due = beat
            elif due <= now:
                return True
            self._handle(self._receive(due - now))
        return False

    def _beat_due(self) -> float | None:
        """When the heartbeat is due on its own: only while the audits succeed, so a
        host whose audits fail (or that has not audited yet) looks as stale as it is."""
        if self._failures or self._schema_wait or not self._last_end:
            return None
        return self._tracker.beat_due()

    def _beat(self) -> None:
        """The heartbeat between audits, in the write's half. One that fails is an audit
        that failed writing: said, counted and retried the same way."""
        try:
            self._run(self._writing, self._tracker.beat)
        except _Abandoned as abandoned:
            LOG.warning("stopping: %s", abandoned)
        except Exception as error:
            self._failed(error)
        else:
            if self._metrics:
                self._metrics.heartbeats.inc()

    def _event_audit_due(self) -> float | None:
        if not self._settings.on_events or self._failures or self._schema_wait:
            return None
        if not self._last_end:  # the first audit, at its fuzzy delay, reads everything
            return None
        return event_audit_due(self._pending, self._last_start)

    def _audit(self, covered: Pending | None = None) -> None:
        try:
            policy = self._settings.policy
            measurement = self._run(self._measuring, self._tracker.measure, policy)
            result = self._run(self._writing, self._tracker.record, measurement)
        except _Abandoned as abandoned:
            LOG.warning("stopping: %s", abandoned)
        except Exception as error:
            self._failed(error)
        else:
            self._succeeded(result, covered)

    def _sweep(self) -> None:
        """The driver's sweep, in the measurement's half (one thread at most runs either)."""
        try:
            swept = self._run(self._measuring, self._tracker.sweep, finish_on_stop=True)
        except _Abandoned:
            return
        except Exception as error:  # the next audit meets the fault, and says so
            LOG.debug("sweep failed: %s", error)
            return
        if self._metrics:
            self._metrics.domain_xml_reads.inc(swept.xml_reads)
        if swept.changed:
            LOG.info(
                "domain(s) %s changed without a libvirt event: auditing soon",
                ", ".join(swept.changed),
            )
            now = time.monotonic()
            self._pending = Pending(now, now).merged(self._pending)

    def _run(self, half: _Half, function: Callable, *args, finish_on_stop: bool = False):
        """Run `function` in the thread pool, handling signals meanwhile; return its result.

        Raises the dependency's error if it outlasts the deadline (the thread is left to
        finish), or at once if the last call of this half has not returned yet. A stop
        abandons a measurement at once; a write (or a call to `finish_on_stop`: the sweep,
        which takes milliseconds) has STOP_GRACE_S to return."""
        if half.started is not None:
            since = time.monotonic() - half.started
            raise self._not_answering(
                half, f"the last {half.name} not finished after {since:.0f} s"
            )
        self._calls += 1
        call = self._calls
        started = half.started = time.monotonic()

        def runner() -> None:
            try:
                done = CallDone(call, half, started, value=tpool.execute(function, *args))
            except Exception as error:
                done = CallDone(call, half, started, error=error)
            finally:
                half.started = None
            self._inbox.put(done)

        eventlet.spawn_n(runner)
        deadline = started + self._deadline_s
        # a call that outlasts the interval (or half its deadline) says once what it waits on
        slow_at: float | None = started + min(self._settings.interval_s, self._deadline_s / 2)
        grace_ends = None
        while True:
            if self._stopping and not (half.writing or finish_on_stop):
                half.abandoned = call
                raise _Abandoned("audit abandoned before it wrote anything")
            if self._stopping and grace_ends is None:
                grace_ends = time.monotonic() + timeouts.STOP_GRACE_S
            wake = min(t for t in (deadline, slow_at, grace_ends) if t is not None)
            message = self._receive(max(0.0, wake - time.monotonic()))
            if isinstance(message, CallDone) and message.call == call:
                if message.error is not None:
                    raise message.error
                return message.value
            now = time.monotonic()
            if grace_ends is not None and now >= grace_ends:
                half.abandoned = call
                what = "write" if half.writing else "sweep"
                raise _Abandoned(
                    f"{what} not finished after {timeouts.STOP_GRACE_S:.0f} s; rolled back"
                )
            if now >= deadline:
                half.abandoned = call
                raise self._not_answering(
                    half, f"{half.name} not finished after {self._deadline_s:g} s"
                )
            if slow_at is not None and now >= slow_at:
                LOG.warning("audit still running; waiting on %s", self._waiting_on(half))
                slow_at = None
            self._handle(message)

    def _waiting_on(self, half: _Half) -> str:
        return self._tracker.waiting_on(half.writing) or "an unknown call"

    def _not_answering(self, half: _Half, what: str) -> ResourceTrackerError:
        error = self._tracker.not_answering(
            half.writing,
            f"{what}, waiting on {self._waiting_on(half)}; abandoned (no new {half.name} "
            "starts until it returns)",
        )
        error.failure_kind = half.name  # one warning for a run of these, whatever the seconds
        return error

    def _receive(self, timeout: float | None) -> Message | None:
        """The next message, waiting at most `timeout` s; pings the watchdog when due."""
        if self._ping_every is not None:
            until_ping = max(0.0, self._next_ping - time.monotonic())
            timeout = until_ping if timeout is None else min(timeout, until_ping)
        try:
            message = self._inbox.get(timeout=timeout)
        except queue.Empty:
            message = None
        self._ping_if_due()
        return message

    def _ping_if_due(self) -> None:
        now = time.monotonic()
        if self._ping_every is not None and now >= self._next_ping:
            self._notifier.notify("WATCHDOG=1")
            self._next_ping = now + self._ping_every

    def _handle(self, message: Message | None) -> None:
        """Act on a signal, or on an abandoned call that returned at last."""
        if isinstance(message, CallDone):
            self._returned_late(message)
        elif isinstance(message, SignalArrived):
            self._signalled(message.signum)
        elif isinstance(message, EventsArrived):
            self._pending = message.rung.pending.merged(self._pending)
            if self._metrics:
                self._metrics.events_received(message.rung.kinds)

    def _returned_late(self, done: CallDone) -> None:
        half = done.half
        if half.abandoned == done.call:
            LOG.info(
                "the abandoned %s returned after %.0f s%s",
                half.name,
                time.monotonic() - done.started,
                "" if done.error is None else f": {done.error}",
            )

    def _signalled(self, signum: int) -> None:
        if signum == signal.SIGHUP:
            self._reload()
        elif not self._stopping:
            LOG.info("%s received: stopping", signal.Signals(signum).name)
            self._stopping = True
            self._notifier.notify("STOPPING=1")

    def _succeeded(self, result: AuditResult, covered: Pending | None = None) -> None:
        if self._failures:
            LOG.info("audit succeeded after %d failed attempt(s)", self._failures)
        self._failures, self._last_failure, self._schema_wait = 0, None, False
        summary = result.summary()
        LOG.log(*self._audit_log.line(result, time.monotonic()))
        malloc.give_back()
        if self._metrics:
            self._metrics.audit_succeeded(result, self._settings.interval_s, self._trigger)
            if covered is not None:
                self._metrics.staleness.observe(time.monotonic() - covered.first_s)
        self._notifier.notify(f"STATUS={summary}")

    def _failed(self, error: Exception) -> None:
        self._failures += 1
        self._schema_wait = isinstance(error, SchemaNotCurrent)
        message = str(error) or type(error).__name__
        kind = (error.failure_kind if isinstance(error, ResourceTrackerError) else None) or message
        if getattr(error, "needs_operator", False):
            message = f"{message}; needs an operator"
        if kind != self._last_failure:
            LOG.warning(
                "audit failed: %s; retrying %s",
                message,
                "every period" if self._schema_wait else "with backoff",
                exc_info=None if isinstance(error, ResourceTrackerError) else error,
            )
            self._last_failure = kind
        else:
            LOG.debug("audit failed again (%d in a row): %s", self._failures, message)
        if self._metrics:
            self._metrics.audit_failed(error, message)
        self._notifier.notify(f"STATUS=audit failed: {message}")

    def _reload(self) -> None:
        self._notifier.notify("RELOADING=1", f"MONOTONIC_USEC={time.monotonic_ns() // 1000}")
        try:
            settings = self._reload_settings()
        except Exception as error:
            LOG.error("configuration not reloaded, the running one is kept: %s", error)
            self._notifier.notify("READY=1", f"STATUS=configuration not reloaded: {error}")
            return
        self._settings = settings
        if self._last_end:  # before the first audit, its due time stands
            self._schedule()
        logging.getLogger().setLevel(logging.DEBUG if settings.debug else logging.INFO)
        LOG.info("configuration reloaded; audits every %s s", settings.interval_s)
        self._notifier.notify("READY=1", "STATUS=configuration reloaded")

    def _read_signals(self, signals: SignalPipe) -> None:
        """Signals reach the hub through a pipe, so handlers never run inside hub code."""
        while True:
            hubs.trampoline(signals.read_fd, read=True)
            for signum in signals.received():
                self._inbox.put(SignalArrived(signum))

    def _read_events(self, doorbell: Doorbell) -> None:
        while True:
            hubs.trampoline(doorbell.read_fd, read=True)
            rung = doorbell.take()
            if rung is not None:
                self._inbox.put(EventsArrived(rung))

    def _stopped(self) -> int:
        LOG.info("stopped")
        self._notifier.notify("STATUS=stopped")
        if self._measuring.started is not None or self._writing.started is not None:
            # A call stuck in the thread pool would hang eventlet's exit handler, which
            # joins every pool thread; nothing is left to flush but the logs.
            logging.shutdown()
            os._exit(0)
        return 0
