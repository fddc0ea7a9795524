"""A libvirt connection that counts the XMLDesc calls made on the domains it lists or
looks up."""

from __future__ import annotations

import collections
from collections.abc import Callable

import libvirt

from tests.support.waiting import wait_for


class CountingConnection:
    """Passes every call to `conn`; `reads` counts XMLDesc calls by domain name, and
    `after_fetch[name]()`, if set, runs once after the next fetch of that domain's XML."""

    def __init__(self, conn: libvirt.virConnect):
        self._conn = conn
        self.reads: collections.Counter[str] = collections.Counter()
        self.after_fetch: dict[str, Callable[[], None]] = {}

    def getAllDomainStats(self, stats, flags=0):
        return [
            (_CountedDomain(dom, self), dom_stats)
            for dom, dom_stats in self._conn.getAllDomainStats(stats, flags)
        ]

    def lookupByUUID(self, uuid: bytes):
        return _CountedDomain(self._conn.lookupByUUID(uuid), self)

    def take_reads(self) -> dict[str, int]:
        """The reads counted since the last take."""
        reads = dict(self.reads)
        self.reads.clear()
        return reads

    def __getattr__(self, name):
        return getattr(self._conn, name)


class _CountedDomain:
    def __init__(self, dom: libvirt.virDomain, conn: CountingConnection):
        self._dom, self._conn = dom, conn

    def XMLDesc(self, flags=0):
        name = self._dom.name()
        self._conn.reads[name] += 1
        xml = self._dom.XMLDesc(flags)
        if name in self._conn.after_fetch:
            self._conn.after_fetch.pop(name)()
        return xml

    def __getattr__(self, name):
        return getattr(self._dom, name)


def after_event(lister, dom: libvirt.virDomain, change, timeout_s: float = 10) -> None:
    """Make `change()` and wait until the event it sends about `dom` reached `lister`."""
    changes = lister._feed.changes
    assert changes is not None, "the lister has no events"
    before, uuid = changes.generation, dom.UUID()
    change()
    assert wait_for(lambda: changes.marks().get(uuid, 0) > before, timeout_s), "no event came"


class CallCounter:
    """Passes every call to `conn`, counting each method called on it by name in `calls`."""

    def __init__(self, conn: libvirt.virConnect, calls: collections.Counter[str]):
        self._conn = conn
        self._calls = calls

    def __getattr__(self, name):
        attr = getattr(self._conn, name)
        if not callable(attr):
            return attr

        def call(*args, **kwargs):
            self._calls[name] += 1
            return attr(*args, **kwargs)

        return call


def counting_opener(calls: collections.Counter[str]) -> Callable[[str], CallCounter]:
    """An open_connection for LibvirtConnection whose connections count into `calls`."""
    return lambda uri: CallCounter(libvirt.openReadOnly(uri), calls)
