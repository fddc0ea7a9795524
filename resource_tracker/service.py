"""The periodic loop. The only module that imports eventlet.

Audits are plain blocking code (libvirt calls, file I/O, the database); they run in
eventlet's thread pool so the hub, and with it timers and signals, stays responsive.
"""

from __future__ import annotations

import logging
import warnings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    import eventlet
    from eventlet import tpool

from resource_tracker.exception import ResourceTrackerError
from resource_tracker.tracker import ResourceTracker

LOG = logging.getLogger(__name__)


def run(tracker: ResourceTracker, interval_s: float) -> None:
    """Audit every `interval_s` seconds, forever; a failed audit is logged and retried."""
    while True:
        try:
            result = tpool.execute(tracker.audit)
        except ResourceTrackerError as error:
            LOG.warning("audit failed: %s", error)
        except Exception:
            LOG.exception("audit failed unexpectedly")
        else:
            LOG.info("audit: %s", result.summary())
        eventlet.sleep(interval_s)
