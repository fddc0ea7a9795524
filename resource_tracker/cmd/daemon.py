"""resource-tracker: audit this host into compute_nodes, once or every period."""

from __future__ import annotations

import dataclasses
import logging

from oslo_config import cfg

from resource_tracker.cmd import fail, load_config, open_database, setup_logging
from resource_tracker.exception import ResourceTrackerError, SchemaNotCurrent
from resource_tracker.tracker import HostPolicy, ResourceTracker
from resource_tracker.virt.disk import FileStorage
from resource_tracker.virt.libvirt.connection import LibvirtConnection
from resource_tracker.virt.libvirt.driver import LibvirtDriver

LOG = logging.getLogger(__name__)

cli_opts = [
    cfg.BoolOpt(
        "once",
        default=False,
        help="Run one audit, write it, print a one-line summary and exit.",
    ),
]


def build_tracker(conf: cfg.ConfigOpts) -> ResourceTracker:
    driver = LibvirtDriver(
        LibvirtConnection(conf.libvirt.connection_uri), FileStorage(conf.instances_path)
    )
    return ResourceTracker(
        host=conf.host,
        driver=driver,
        store=open_database(conf),
        policy=host_policy(conf),
    )


def host_policy(conf: cfg.ConfigOpts) -> HostPolicy:
    return HostPolicy(**{field.name: conf[field.name] for field in dataclasses.fields(HostPolicy)})


def main(argv: list[str] | None = None) -> int:
    conf = load_config(argv, cli_opts, description=__doc__)
    setup_logging(conf, default_level=logging.WARNING if conf.once else logging.INFO)
    tracker = build_tracker(conf)
    if conf.once:
        try:
            tracker.store.check_schema()
            print(tracker.audit().summary())
        except ResourceTrackerError as error:
            fail(error)
        finally:
            tracker.driver.close()
        return 0
    try:
        tracker.store.check_schema()
    except SchemaNotCurrent as error:
        fail(error)
    except ResourceTrackerError as error:
        LOG.warning("%s; audits will retry", error)
    from resource_tracker import service  # eventlet is imported only when the loop runs

    service.run(tracker, conf.update_resources_interval)
    return 0
