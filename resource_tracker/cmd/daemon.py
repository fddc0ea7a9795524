"""resource-tracker: audit this host into compute_nodes, once or every period."""

from __future__ import annotations

import dataclasses
import logging
import sys

from oslo_config import cfg

from resource_tracker import conf as rt_conf
from resource_tracker.cmd import (
    fail,
    last_audit_file,
    load_config,
    open_database,
    render,
    setup_logging,
)
from resource_tracker.cmd.host_shape import check_host, shape_policy
from resource_tracker.conf.opts import list_opts
from resource_tracker.exception import ResourceTrackerError, SchemaNotCurrent, StorageUnavailable
from resource_tracker.metrics import Metrics
from resource_tracker.tracker import HostPolicy, ResourceTracker
from resource_tracker.virt.disk import FileStorage, Storage
from resource_tracker.virt.libvirt import events as libvirt_events
from resource_tracker.virt.libvirt.connection import LibvirtConnection
from resource_tracker.virt.libvirt.driver import LibvirtDriver
from resource_tracker.virt.lvm import LvmStorage
from resource_tracker.virt.rbd import RbdStorage

LOG = logging.getLogger(__name__)

cli_opts = [
    cfg.BoolOpt(
        "once",
        default=False,
        help="Run one audit, write it, print a one-line summary and exit.",
    ),
    cfg.BoolOpt(
        "dry-run",
        default=False,
        help="With --once: audit, print what would be written and how it differs from the "
        "stored row, and write nothing (no row, no heartbeat).",
    ),
]

# Options a running daemon applies on SIGHUP; any other change needs a restart.
RELOADABLE = {
    "update_resources_interval",
    "periodic_fuzzy_delay",
    "debug",
    *(field.name for field in dataclasses.fields(HostPolicy)),
}


def build_tracker(conf: cfg.ConfigOpts) -> ResourceTracker:
    driver = LibvirtDriver(LibvirtConnection(conf.libvirt.connection_uri), local_storage(conf))
    return ResourceTracker(
        host=conf.host,
        driver=driver,
        store=open_database(conf),
        policy=host_policy(conf),
        last_audit=last_audit_file(conf),
        shape_policy=shape_policy(conf),
    )


def local_storage(conf: cfg.ConfigOpts) -> Storage:
    if conf.libvirt.images_type == "lvm":
        return LvmStorage(conf.libvirt.images_volume_group)
    if conf.libvirt.images_type == "rbd":
        try:
            return RbdStorage(
                conf.libvirt.images_rbd_pool,
                conf.libvirt.images_rbd_ceph_conf,
                conf.libvirt.rbd_user,
                conf.libvirt.rbd_connect_timeout,
            )
        except ImportError as error:
            fail(f"[libvirt] images_type = rbd: {error}", status=2)
    storage = FileStorage(conf.instances_path)
    try:
        storage.measure()  # a typo must stop start-up, not fail every audit from then on
    except StorageUnavailable as error:
        reason = str(error).rpartition(": ")[2]
        fail(f"[DEFAULT] instances_path = {conf.instances_path}: {reason}", status=2)
    return storage


def host_policy(conf: cfg.ConfigOpts) -> HostPolicy:
    return HostPolicy(**{field.name: conf[field.name] for field in dataclasses.fields(HostPolicy)})


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    conf = load_config(argv, cli_opts, description=__doc__)
    setup_logging(conf, default_level=logging.WARNING if conf.once else logging.INFO)
    if conf.dry_run and not conf.once:
        fail("--dry-run goes with --once", status=2)
    tracker = build_tracker(conf)
    if conf.once:
        return dry_run(tracker) if conf.dry_run else run_once(tracker)
    try:
        tracker.store.check_schema()
    except SchemaNotCurrent as error:
        fail(error)
    except ResourceTrackerError as error:
        LOG.warning("%s; audits will retry", error)
    from resource_tracker import service  # eventlet is imported only when the loop runs

    libvirt_events.start()  # before the first connection opens, so it gets close events
    check_host(tracker, daemon=True)

    def reload() -> service.Settings:
        return service_settings(reload_config(conf, argv))

    metrics = serve_metrics(conf.metrics.listen) if conf.metrics.listen else None
    return service.Service(tracker, service_settings(conf), reload, metrics=metrics).run()


def serve_metrics(listen: str) -> Metrics:
    metrics = Metrics()
    try:
        server = metrics.serve(listen)
    except OSError as error:
        fail(f"[metrics] listen = {listen}: {error.strerror}")
    address, port = server.server_address[:2]
    LOG.info(
        "metrics on http://%s/metrics",
        f"[{address}]:{port}" if ":" in address else f"{address}:{port}",
    )
    return metrics


def run_once(tracker: ResourceTracker) -> int:
    try:
        tracker.store.check_schema()
        check_host(tracker)
        print(tracker.audit().summary())
    except ResourceTrackerError as error:
        fail(error)
    finally:
        tracker.driver.close()
    return 0


def dry_run(tracker: ResourceTracker) -> int:
    try:
        tracker.store.check_schema()
        check_host(tracker)
        measurement = tracker.measure()
        plans = tracker.store.plan_compute_nodes(
            tracker.host, [measurement.values], measurement.shared
        )
    except ResourceTrackerError as error:
        fail(error)
    finally:
        tracker.driver.close()
    print(render.planned_changes(tracker.host, plans))
    return 0


def service_settings(conf: cfg.ConfigOpts):
    from resource_tracker.service import Settings  # imports eventlet: daemon mode only

    return Settings(
        interval_s=conf.update_resources_interval,
        fuzzy_delay_s=conf.periodic_fuzzy_delay,
        policy=host_policy(conf),
        debug=conf.debug,
    )


def reload_config(running: cfg.ConfigOpts, argv: list[str]) -> cfg.ConfigOpts:
    """The config files read afresh and checked; raises ConfigError, leaving `running` as is."""
    conf = rt_conf.make_config()
    conf.register_cli_opts(cli_opts)
    rt_conf.load(conf, argv)
    for group, group_opts in list_opts():
        for opt in group_opts:
            if opt.dest in RELOADABLE:
                continue
            if rt_conf.value_of(conf, group, opt.dest) != rt_conf.value_of(
                running, group, opt.dest
            ):
                LOG.warning("[%s] %s changed: restart the daemon to apply it", group, opt.name)
    return conf
