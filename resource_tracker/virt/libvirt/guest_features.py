"""The guest features (domain capabilities) over a short-lived read-write connection.

libvirt refuses virConnectGetDomainCapabilities on a read-only connection
(VIR_ERR_OPERATION_DENIED), and the daemon's audit connection is read-only. Nova's compute
reads them on its read-write connection; here a read-write connection is opened only for
them, when the audit connection is new (libvirt's answer changes only when libvirtd
restarts, which ends that connection), and closed at once: two calls (the default machine
and, on x86_64, q35), never one per audit.

A read that does not end within DOMAIN_CAPABILITIES_S is left to finish in its thread (never
a second one beside it): the audit goes on with the features unknown, and takes the answer
at a later audit. Refused (the daemon's user may not open libvirt read-write, or libvirt
has no domain capabilities, as its test driver): one log line per distinct answer, the
features unknown (None: no trait is reported or removed on a guess), asked again on the
next audit connection or after RETRY_S, whichever comes first.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import libvirt

from resource_tracker.resources import GuestFeatures
from resource_tracker.timeouts import (
    DOMAIN_CAPABILITIES_S,
    LIBVIRT_KEEPALIVE_COUNT,
    LIBVIRT_KEEPALIVE_INTERVAL_S,
)
from resource_tracker.virt import kvm_amd
from resource_tracker.virt.libvirt import domain_capabilities, events
from resource_tracker.virt.libvirt.connection import failure

LOG = logging.getLogger(__name__)

RETRY_S = 3600.0  # a refused read is asked again this long after, on the same connection
FIX = (
    "let the daemon's user open libvirt read-write (`usermod -aG libvirt resource-tracker`, "
    "then restart it; docs/placement.md) or set [libvirt] read_domain_capabilities = false"
)
# what libvirt answers when it has no domain capabilities to give (a driver without them;
# an architecture, machine or accelerator it lacks): not a matter of permission
NONE_TO_GIVE = frozenset({
    libvirt.VIR_ERR_NO_SUPPORT, libvirt.VIR_ERR_INVALID_ARG,
    libvirt.VIR_ERR_OPERATION_UNSUPPORTED, libvirt.VIR_ERR_CONFIG_UNSUPPORTED,
})  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Answer:
    features: GuestFeatures | None
    problem: str | None = None  # why there are none: said once
    refused: bool = False  # a matter of permission: the line names the fix


@dataclass(slots=True)
class _Known:
    connection: object  # the audit connection it was read for
    answer: _Answer
    read_at: float


class GuestFeaturesReader:
    """Reads the guest features of `uri`'s host through `open_connection` (read-write)."""

    def __init__(
        self,
        uri: str,
        open_connection: Callable[[str], libvirt.virConnect] = libvirt.open,
        kvm_amd_parameters: Callable[[], frozenset[str]] = kvm_amd.sev_parameters,
        limit_s: float = DOMAIN_CAPABILITIES_S,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.uri = uri
        self._open = open_connection
        self._kvm_amd = kvm_amd_parameters
        self._limit_s = limit_s
        self._clock = clock
        self._known: _Known | None = None
        self._reading: tuple[object, threading.Thread, list[_Answer]] | None = None
        self._said: str | None = None
        self.reads = 0  # read-write connections opened

    def features(self, connection: object, arch: str | None) -> GuestFeatures | None:
        """The features for the audit connection `connection` (any object: only its
        identity matters), read if not yet read for it or refused RETRY_S ago."""
        self._take_finished()
        if self._reading is not None:
            return self._last()
        known = self._known
        if known is not None and known.connection is connection:
            retry = known.answer.features is None and self._clock() - known.read_at >= RETRY_S
            if not retry:
                return known.answer.features
        outcome: list[_Answer] = []
        thread = threading.Thread(
            target=lambda: outcome.append(self._read(arch)),
            name="domain-capabilities",
            daemon=True,
        )
        self._reading = (connection, thread, outcome)
        self.reads += 1
        thread.start()
        thread.join(self._limit_s)
        if self._take_finished():
            return self._last()
        self._say(
            _Answer(
                None,
                f"libvirt at {self.uri} did not give its domain capabilities within "
                f"{self._limit_s:g} s; taken when it answers",
            )
        )
        return self._last()

    def _last(self) -> GuestFeatures | None:
        return None if self._known is None else self._known.answer.features

    def _take_finished(self) -> bool:
        """Whether a read was under way and has ended: its answer is then the known one."""
        if self._reading is None or self._reading[1].is_alive():
            return False
        connection, _thread, outcome = self._reading
        self._reading = None
        answer = outcome[0] if outcome else _Answer(None, "the read ended without an answer")
        self._known = _Known(connection, answer, self._clock())
        self._say(answer)
        return True

    def _say(self, answer: _Answer) -> None:
        if answer.problem is None:
            if self._said is not None:
                LOG.info("libvirt at %s gives its domain capabilities again", self.uri)
            self._said = None
            return
        if answer.problem == self._said:
            return
        self._said = answer.problem
        if answer.refused:
            LOG.warning(
                "%s: no disk bus, video, TPM, secure boot or SEV traits are reported; %s",
                answer.problem,
                FIX,
            )
        else:
            LOG.info(
                "%s: no disk bus, video, TPM, secure boot or SEV traits are reported",
                answer.problem,
            )

    def _read(self, arch: str | None) -> _Answer:
        """Runs in the reader's thread: never raises."""
        try:
            conn = self._open(self.uri)
        except (libvirt.libvirtError, SystemError) as error:
            return _Answer(
                None,
                f"cannot open libvirt at {self.uri} read-write ({failure(error) or error})",
                refused=True,
            )
        try:
            if events.running():  # a libvirtd that stops answering is dropped
                with contextlib.suppress(libvirt.libvirtError):
                    conn.setKeepAlive(LIBVIRT_KEEPALIVE_INTERVAL_S, LIBVIRT_KEEPALIVE_COUNT)
            return self._ask(conn, arch)
        except (libvirt.libvirtError, SystemError) as error:
            return _Answer(None, f"libvirt at {self.uri} failed: {failure(error) or error}")
        finally:
            with contextlib.suppress(libvirt.libvirtError):
                conn.close()

    def _ask(self, conn: libvirt.virConnect, arch: str | None) -> _Answer:
        try:
            found = [domain_capabilities.parse(conn.getDomainCapabilities(None, arch, None))]
        except libvirt.libvirtError as error:
            code = error.get_error_code()
            if code not in NONE_TO_GIVE and code != libvirt.VIR_ERR_OPERATION_DENIED:
                raise
            return _Answer(
                None,
                f"libvirt at {self.uri} gives no domain capabilities ({failure(error)})",
                refused=code == libvirt.VIR_ERR_OPERATION_DENIED,
            )
        if arch == "x86_64":
            try:
                found.append(
                    domain_capabilities.parse(conn.getDomainCapabilities(None, arch, "q35"))
                )
            except libvirt.libvirtError as error:  # a QEMU without q35
                if error.get_error_code() not in NONE_TO_GIVE:
                    raise
        features = domain_capabilities.merged(found)
        return _Answer(replace(features, kvm_amd=self._kvm_amd()))
