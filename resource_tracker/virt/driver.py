"""The interface between the tracker and a hypervisor."""

from __future__ import annotations

import abc
import time
from collections.abc import Callable

from resource_tracker.exception import HypervisorUnavailable, ResourceTrackerError
from resource_tracker.resources import DomainSweep, HostResources, HostTopology


class Activity:
    """What an audit is waiting on right now, so that an audit that hangs can say where.

    Drivers note each call that may block (a libvirt call, a stat) before making it; the
    daemon reads it from another thread. A note costs a clock read and two assignments.
    """

    def __init__(self):
        self._what: tuple[str, str | Callable[[], str]] | None = None
        self.since = 0.0

    def note(self, what: str, subject: str | Callable[[], str] = "") -> float:
        """Record the call about to be made (`subject` may be a callable giving the name)."""
        self._what = (what, subject)
        self.since = time.monotonic()
        return self.since

    def clear(self) -> None:
        self._what = None

    def describe(self) -> str | None:
        what = self._what
        if what is None:
            return None
        action, subject = what
        name = subject() if callable(subject) else subject
        return f"{action} {name}".strip() + f" for {time.monotonic() - self.since:.0f} s"


class ComputeDriver(abc.ABC):
    """What the tracker asks of a hypervisor: one snapshot of the host per audit.

    Implementations raise HypervisorUnavailable when the hypervisor cannot be reached (the
    next call tries again) and skip, with a log line, whatever vanishes mid-audit.
    """

    @abc.abstractmethod
    def get_host_resources(self) -> HostResources:
        """Audit the host: its capacity, its domains' use, and its local disk."""

    def host_topology(self) -> tuple[HostTopology, int]:
        """The host's NUMA cells and guests, and how many CPUs are online (for start-up
        checks, without auditing the domains)."""
        return HostTopology((), ()), self.get_host_resources().vcpus

    def sweep(self) -> DomainSweep:
        """Between audits, off their path: re-read a share of what the audits keep, for the
        changes the hypervisor sends no event for."""
        return DomainSweep()

    def waiting_on(self) -> str | None:
        """The call an audit in progress is waiting on, if the driver keeps track."""
        return None

    def not_answering(self, message: str) -> ResourceTrackerError:
        """The error for an audit abandoned while waiting on this driver: `message` says
        why; the type names the dependency that does not answer."""
        return HypervisorUnavailable(message)

    def close(self) -> None:  # noqa: B027 - drivers without resources to release need nothing
        """Release connections; the driver may be used again afterwards."""
