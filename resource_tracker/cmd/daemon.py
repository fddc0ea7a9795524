"""resource-tracker: audit this host into compute_nodes, once or every period."""

from __future__ import annotations

import dataclasses
import logging
import signal
import sys

from oslo_config import cfg

from resource_tracker import conf as rt_conf
from resource_tracker import version
from resource_tracker.audit.driver_settings import DriverSettings
from resource_tracker.audit.fitting import flavor as fitting_flavor
from resource_tracker.audit.provider import ProviderPolicy
from resource_tracker.audit.tracker import HostPolicy, ResourceTracker
from resource_tracker.cmd import (
    FULL_READ_EVERY,
    check_config,
    fail,
    guest_features,
    instances,
    last_audit_file,
    load_config,
    open_database,
    render,
    setup_logging,
    within,
)
from resource_tracker.cmd.host_shape import check_host, shape_policy, start_warnings
from resource_tracker.conf import capacity as capacity_conf
from resource_tracker.conf import neutron as neutron_conf
from resource_tracker.conf import pci as pci_conf
from resource_tracker.conf import placement as placement_conf
from resource_tracker.conf.opts import list_opts
from resource_tracker.daemon import malloc
from resource_tracker.daemon.doorbell import Doorbell
from resource_tracker.daemon.metrics import Metrics
from resource_tracker.daemon.schedule import Settings
from resource_tracker.daemon.signals import SignalPipe
from resource_tracker.daemon.systemd import Notifier
from resource_tracker.db.api import Database
from resource_tracker.exception import (
    ConfigError,
    DatabaseUnavailable,
    ResourceTrackerError,
    SchemaNotCurrent,
)
from resource_tracker.placement.client import PlacementClient
from resource_tracker.placement.tree import TreeSync
from resource_tracker.timeouts import CALL_DEADLINE_S, PLACEMENT_CALL_S, START_CHECK_S
from resource_tracker.virt.disk import Storage
from resource_tracker.virt.libvirt import events as libvirt_events
from resource_tracker.virt.libvirt.connection import LibvirtConnection
from resource_tracker.virt.libvirt.device_lister import DeviceLister
from resource_tracker.virt.libvirt.domains import DomainLister
from resource_tracker.virt.libvirt.driver import LibvirtDriver
from resource_tracker.virt.libvirt.events import OnEvent

LOG = logging.getLogger(__name__)

ONCE_LIMIT_S = 2 * CALL_DEADLINE_S  # --once: the measurement and the write, as the daemon

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
    cfg.BoolOpt(
        "check-config",
        default=False,
        help="Run every start-up check that writes nothing (the config files, instances_path, "
        "libvirt, the CPU sets and huge pages against the host, the database and its schema), "
        "print one line each and exit: 0 if all pass, 2 if any fails (the unit's ExecReload "
        "runs this first).",
    ),
]

# Options a running daemon applies on SIGHUP; any other change needs a restart.
RELOADABLE = {
    "update_resources_interval",
    "update_resources_on_events",
    "report_interval",
    "periodic_fuzzy_delay",
    "debug",
    *(field.name for field in dataclasses.fields(HostPolicy)),
}


def main(argv: list[str] | None = None, signals: SignalPipe | None = None) -> int:
    """The resource-tracker command (started by resource_tracker.cmd.start_daemon, which
    catches SIGHUP before this module's imports)."""
    if signals is None:
        signals = SignalPipe()
        signals.catch(signal.SIGHUP)
    argv = sys.argv[1:] if argv is None else argv
    try:
        # the Placement auth plugin's options (keystoneauth1) only when reporting
        conf = load_config(argv, cli_opts, description=__doc__, every_credential=False)
        if conf.check_config:
            return check_config.run(conf)
        setup_logging(conf, default_level=logging.WARNING if conf.once else logging.INFO)
        if conf.dry_run and not conf.once:
            fail("--dry-run goes with --once", status=2)
        if conf.once:
            return run_once(conf)
        return run_daemon(conf, argv, signals)
    except KeyboardInterrupt:  # SIGINT before the loop handles it
        return 130


def run_daemon(conf: cfg.ConfigOpts, argv: list[str], signals: SignalPipe) -> int:
    """The daemon's whole wiring: each part is built here and handed only what it uses."""
    malloc.one_arena()  # before the first thread
    with open_database(conf, FULL_READ_EVERY, conf.report_interval) as database:
        waiting = check_schema_at_start(database)
        libvirt_events.start()  # before the first connection opens, so it gets close events
        doorbell = Doorbell()
        driver = libvirt_driver(conf, doorbell.ring)
        tracker = resource_tracker(conf, driver, database)
        check_host(tracker, start_warnings(conf), daemon=True)
        metrics = serve_metrics(conf) if conf.metrics.listen else None
        # after the checks that stop start-up, whose one line stays the only one
        files = ", ".join(rt_conf.config_files(conf)) or "none (defaults)"
        LOG.info("resource-tracker %s starting; config files: %s", version(), files)

        def reload() -> Settings:
            reloaded = reload_config(conf, argv)
            # a ratio set (or unset) in the files is explicit (or not) from now on, as it
            # is applied from now on
            tracker.provider_policy = dataclasses.replace(
                tracker.provider_policy, explicit_ratios=explicit_ratios(reloaded)
            )
            database.set_report_interval(reloaded.report_interval)
            return loop_settings(reloaded)

        from resource_tracker.daemon.service import (
            Service,  # eventlet is imported only when it runs
        )

        return Service(
            tracker, loop_settings(conf), reload, signals, Notifier(), metrics, waiting, doorbell
        ).run()


def run_once(conf: cfg.ConfigOpts) -> int:
    """One audit (or, with --dry-run, what it would write), one line, exit; within the time
    the daemon gives both halves of an audit."""
    database = open_database(conf)
    driver = libvirt_driver(conf)
    tracker = resource_tracker(conf, driver, database)

    def once() -> str:
        if conf.dry_run:
            database.check_schema()
        else:
            prepare_schema(database)
        check_host(tracker, start_warnings(conf))
        if not conf.dry_run:
            return tracker.audit(host_policy(conf)).summary()
        measurement = tracker.measure(host_policy(conf))
        plans = database.plan_compute_nodes(conf.host, [measurement.values], measurement.shared)
        return render.planned_changes(conf.host, plans)

    def timed_out() -> ResourceTrackerError:
        waiting = tracker.waiting_on(writing=True) or tracker.waiting_on(writing=False)
        return ResourceTrackerError(
            f"no answer within {ONCE_LIMIT_S:.0f} s; waiting on {waiting or 'an unknown call'}"
        )

    try:
        print(within(ONCE_LIMIT_S, once, timed_out))
    except ResourceTrackerError as error:
        fail(error)
    finally:
        driver.close()
        database.dispose()
    return 0


def resource_tracker(
    conf: cfg.ConfigOpts, driver: LibvirtDriver, database: Database
) -> ResourceTracker:
    """The tracker of this host, with what it keeps until a restart: its shape policy, the
    devices it offers ([pci] device_spec), its networks' NUMA nodes ([neutron] physnets...),
    where it records the last audit."""
    return ResourceTracker(
        conf.host,
        driver,
        database,
        last_audit_file(conf),
        shape_policy(conf),
        pci_conf.specs(conf),
        neutron_conf.affinity(conf),
        placement_sync(conf),
        provider_policy(conf),
    )


def placement_sync(conf: cfg.ConfigOpts) -> TreeSync | None:
    """The reporter of the host's provider, when [placement] report is on."""
    if not placement_conf.enabled(conf):
        return None
    client = PlacementClient(placement_conf.adapter(conf), PLACEMENT_CALL_S)
    return TreeSync(client, conf.placement.refresh_audits)


def provider_policy(conf: cfg.ConfigOpts) -> ProviderPolicy:
    return ProviderPolicy(
        explicit_ratios(conf),
        tuple(conf.devices.enabled_mdev_types),
        conf.pci.report_in_placement,
        guest_features.vtpm(conf),
        DriverSettings(
            conf.libvirt.virt_type,
            conf.libvirt.images_type,
            conf.force_raw_images,
            tuple(conf.compute.image_type_exclude_list),
        ),
    )


def explicit_ratios(conf: cfg.ConfigOpts) -> frozenset[str]:
    """The resource classes whose allocation ratio a config file or the command line sets
    (else ours is the initial ratio, and an operator's ratio in Placement is kept)."""
    return frozenset(
        resource_class
        for resource_class, name in (
            ("VCPU", "cpu_allocation_ratio"),
            ("MEMORY_MB", "ram_allocation_ratio"),
            ("DISK_GB", "disk_allocation_ratio"),
        )
        if rt_conf.set_explicitly(conf, name)
    )


def libvirt_driver(conf: cfg.ConfigOpts, on_event: OnEvent | None = None) -> LibvirtDriver:
    """`on_event`: told of each libvirt event (in libvirt's event thread)."""
    connection = LibvirtConnection(conf.libvirt.connection_uri)
    domains = DomainLister(
        refresh_audits=conf.libvirt.domain_cache_refresh_audits, on_event=on_event
    )
    devices = DeviceLister(on_event=on_event)
    return LibvirtDriver(
        connection,
        local_storage(conf),
        devices=devices,
        domains=domains,
        guest_reader=guest_features.guest_reader(conf),
    )


def local_storage(conf: cfg.ConfigOpts) -> Storage:
    # a typo must stop start-up, not fail every audit from then on
    try:
        storage, slow = instances.open_storage(conf)
    except ConfigError as error:
        fail(error, status=2)
    if slow:
        LOG.warning("%s", slow)
    return storage


def host_policy(conf: cfg.ConfigOpts) -> HostPolicy:
    return HostPolicy(**{field.name: conf[field.name] for field in dataclasses.fields(HostPolicy)})


def loop_settings(conf: cfg.ConfigOpts) -> Settings:
    return Settings(
        interval_s=conf.update_resources_interval,
        fuzzy_delay_s=conf.periodic_fuzzy_delay,
        policy=host_policy(conf),
        debug=conf.debug,
        on_events=conf.update_resources_on_events,
    )


def check_schema_at_start(database: Database) -> SchemaNotCurrent | None:
    """Give an empty SQLite database the schema. A schema this daemon may not write into
    (behind: db sync not run yet; newer: this host not upgraded yet), a database that is
    down, or one that does not answer within START_CHECK_S, is left to the audits (each
    checks the schema, one a period while it is not current), so hosts can be upgraded
    before or after db sync, and a hung server holds READY=1 no longer than that."""

    def no_answer() -> DatabaseUnavailable:
        return DatabaseUnavailable(
            f"database {database.masked_url} did not answer the schema check within "
            f"{START_CHECK_S:.0f} s"
        )

    try:
        within(START_CHECK_S, lambda: prepare_schema(database), no_answer)
    except SchemaNotCurrent as error:
        LOG.warning("%s; waiting: the audits check again every period", error)
        return error
    except ResourceTrackerError as error:
        LOG.warning("%s; audits will retry", error)
    return None


def prepare_schema(database: Database) -> None:
    created = database.check_or_create_schema()
    if created:
        LOG.info(
            "created the schema (revision %s) in the new database %s", created, database.masked_url
        )


def serve_metrics(conf: cfg.ConfigOpts) -> Metrics:
    listen = conf.metrics.listen
    aliases = pci_conf.aliases(conf)
    flavors = [
        (flavor.label(), fitting_flavor.request(flavor, aliases))
        for flavor in capacity_conf.flavors(conf)
    ]  # checked at start-up: they read
    metrics = Metrics(flavors)
    try:
        server = metrics.serve(listen)
    except OSError as error:
        fail(f"[metrics] listen = {listen}: {error.strerror}")
    address, port = server.socket.getsockname()[:2]  # what server_address holds, as str
    LOG.info(
        "metrics on http://%s/metrics",
        f"[{address}]:{port}" if ":" in address else f"{address}:{port}",
    )
    return metrics


def reload_config(running: cfg.ConfigOpts, argv: list[str]) -> cfg.ConfigOpts:
    """The config files read afresh and checked; raises ConfigError, leaving `running` as is."""
    conf = rt_conf.make_config()
    conf.register_cli_opts(cli_opts)
    rt_conf.load(conf, argv, every_credential=False)
    for group, group_opts in list_opts():
        for opt in group_opts:
            if opt.dest in RELOADABLE:
                continue
            if rt_conf.value_of(conf, group, opt.dest) != rt_conf.value_of(
                running, group, opt.dest
            ):
                LOG.warning("[%s] %s changed: restart the daemon to apply it", group, opt.name)
    return conf
