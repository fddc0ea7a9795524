"""The interface between the tracker and a hypervisor."""

from __future__ import annotations

import abc

from resource_tracker.resources import HostResources


class ComputeDriver(abc.ABC):
    """What the tracker asks of a hypervisor: one snapshot of the host per audit.

    Implementations raise HypervisorUnavailable when the hypervisor cannot be reached (the
    next call tries again) and skip, with a log line, whatever vanishes mid-audit.
    """

    @abc.abstractmethod
    def get_host_resources(self) -> HostResources:
        """Audit the host: its capacity, its domains' use, and its local disk."""

    def close(self) -> None:  # noqa: B027 - drivers without resources to release need nothing
        """Release connections; the driver may be used again afterwards."""
