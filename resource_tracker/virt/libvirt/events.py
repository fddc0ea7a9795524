"""libvirt's event loop, run in a native thread, and what the audit subscribes to through it.

The loop delivers close callbacks, keepalives and the events of a Subscription. It must be
started before a connection is opened for that connection to get any of them (libvirt
refuses a subscription while no loop is registered; a connection opened before the loop
accepts one but delivers nothing). The daemon starts it; `--once` and the tests that need
no events leave it off.

A Subscription marks, in a ChangeLog, the object each event is about (a domain's UUID, a
node device's name); the audit asks the log what changed since it last read an object.
Callbacks run in the loop's thread, so they only mark, and tell an OnEvent callable the
event's kind (the daemon then schedules an audit soon).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import libvirt

LOG = logging.getLogger(__name__)

_lock = threading.Lock()
_started = False


def start() -> None:
    global _started
    with _lock:
        if _started:
            return
        libvirt.virEventRegisterDefaultImpl()
        threading.Thread(target=_run, name="libvirt-events", daemon=True).start()
        _started = True


def running() -> bool:
    return _started


def _run() -> None:
    while True:
        try:
            libvirt.virEventRunDefaultImpl()
        except libvirt.libvirtError as error:
            LOG.warning("libvirt event loop: %s", error.get_error_message())
            time.sleep(1)


OnEvent = Callable[[str], None]  # called in the event thread with the event's kind

K = TypeVar("K", bound=Hashable)  # the key of an object events name: a domain's UUID, ...


class ChangeLog(Generic[K]):
    """Which objects changed, in event order: each event stamps its object's key with the
    next generation number. Written by the event thread, read by the audit.

    To read an object, note `generation` first, then fetch it: the copy is current unless
    marks() gives its key a later generation (an event may have been sent while the fetch
    was in flight, so the copy may predate the change).
    """

    def __init__(self):
        self._lock = threading.Lock()
        self.generation = 0
        self._changed: dict[K, int] = {}

    def mark(self, key: K) -> None:
        with self._lock:
            self.generation += 1
            self._changed[key] = self.generation

    def marks(self) -> Mapping[K, int]:
        """The generation of each key's last mark, as it is until the next forget_until (an
        audit asks of every domain: a dict lookup each, not a call)."""
        return self._changed

    def marked(self) -> list[K]:
        """Every key marked and not forgotten: objects an audit has not seen may be among them."""
        with self._lock:
            return list(self._changed)

    def forget_until(self, generation: int) -> None:
        """Drop the marks of `generation` and before, once every marked object was read since."""
        with self._lock:
            self._changed = {key: mark for key, mark in self._changed.items() if mark > generation}


@dataclass(frozen=True)
class Kind(Generic[K]):
    """One family of libvirt events: how to subscribe, and the key of the object an event names."""

    name: str
    register: str
    deregister: str
    key: Callable[[Any], K]  # Any: libvirt's objects are untyped
    id_prefix: str  # of the names of libvirt's event IDs of this family

    def event_name(self, event_id: int) -> str:
        """The kind of one event, for metrics: 'domain_lifecycle', 'node_device_update'."""
        for name, value in vars(libvirt).items():
            if name.startswith(self.id_prefix) and value == event_id and not name.endswith("LAST"):
                return f"{self.name.replace(' ', '_')}_{name[len(self.id_prefix) :].lower()}"
        return f"{self.name.replace(' ', '_')}_{event_id}"


DOMAIN: Kind[bytes] = Kind(
    "domain",
    "domainEventRegisterAny",
    "domainEventDeregisterAny",
    lambda d: d.UUID(),
    "VIR_DOMAIN_EVENT_ID_",
)
NODE_DEVICE: Kind[str] = Kind(
    "node device",
    "nodeDeviceEventRegisterAny",
    "nodeDeviceEventDeregisterAny",
    lambda d: d.name(),
    "VIR_NODE_DEVICE_EVENT_ID_",
)


class Subscription(Generic[K]):
    """Callbacks on one connection for some events of one Kind, about every object of it.

    Raises libvirtError, with nothing left registered, if the connection refuses one (no
    event loop, or a driver without events). libvirt takes one callback per event and
    connection from Python (libvirt-python passes them all through one C function: a second
    is refused as "already tracked"), so have one Subscription per Kind and connection.
    """

    def __init__(
        self,
        conn: libvirt.virConnect,
        kind: Kind[K],
        event_ids: Iterable[int],
        changes: ChangeLog[K],
        on_event: OnEvent | None = None,
    ):
        self._conn, self._kind, self._changes = conn, kind, changes
        self._on_event_kind = on_event
        self._callback_ids: list[int] = []
        register = getattr(conn, kind.register)
        try:
            for event_id in event_ids:
                callback = functools.partial(self._on_event, kind.event_name(event_id))
                self._callback_ids.append(register(None, event_id, callback, None))
        except libvirt.libvirtError:
            self.cancel()
            raise

    def cancel(self) -> None:
        deregister = getattr(self._conn, self._kind.deregister)
        for callback_id in self._callback_ids:
            with contextlib.suppress(libvirt.libvirtError):  # a closed connection has none
                deregister(callback_id)
        self._callback_ids = []

    def _on_event(self, name: str, _conn, obj, *_details_and_opaque) -> None:
        self._changes.mark(self._kind.key(obj))
        if self._on_event_kind is not None:
            self._on_event_kind(name)


class Feed(Generic[K]):
    """The events of one Kind on the connection the audits use, followed from one audit to
    the next: a cache of what was read from libvirt asks it what changed.

    Call follow(conn) at the start of each audit: it subscribes on a connection new to it,
    and says so, for a new connection (the first, or a reconnect) may have missed events: the
    caller reads everything again. `changes` is that connection's ChangeLog, None when it
    sends no events (no event loop, as with `--once`, or a driver that refuses): the caller
    then reads everything every audit. Call disconnect(conn) before conn is closed.
    """

    def __init__(
        self,
        kind: Kind[K],
        event_ids: Iterable[int],
        use_events: bool,
        without: str,
        on_event: OnEvent | None = None,
    ):
        self._kind, self._event_ids, self._use_events = kind, tuple(event_ids), use_events
        self._on_event = on_event
        self._without = without  # what the caller does without events, for the log
        self._conn: libvirt.virConnect | None = None
        self._subscription: Subscription[K] | None = None
        self.changes: ChangeLog[K] | None = None

    def follow(self, conn: libvirt.virConnect) -> bool:
        """Subscribe on `conn` if it is new; True if it is (what was read before may be stale)."""
        if conn is self._conn:
            return False
        self.disconnect(self._conn)
        self._conn = conn
        if not (self._use_events and running()):
            return True
        changes: ChangeLog[K] = ChangeLog()
        try:
            self._subscription = Subscription(
                conn, self._kind, self._event_ids, changes, self._on_event
            )
        except libvirt.libvirtError as error:
            LOG.info("no %s events from libvirt (%s): %s", self._kind.name,
                     error.get_error_message(), self._without)  # fmt: skip
            return True
        self.changes = changes
        return True

    def following(self, conn: libvirt.virConnect) -> bool:
        """Whether the audits follow `conn` (and what was read on it is kept)."""
        return conn is self._conn

    def disconnect(self, conn: libvirt.virConnect | None) -> None:
        """`conn` is about to be closed: cancel the subscription on it (registered callbacks
        would keep it open)."""
        if conn is None or conn is not self._conn:
            return
        if self._subscription is not None:
            self._subscription.cancel()
        self._conn, self._subscription, self.changes = None, None, None
