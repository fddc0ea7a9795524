"""resource-tracker-manage storage: name a shared instances_path, see what the fleet's
storages hold."""

from __future__ import annotations

import os

from oslo_config import cfg

from resource_tracker.cmd import fail, output, render
from resource_tracker.db.api import Database
from resource_tracker.db.models import LOCAL_STORAGE
from resource_tracker.virt import shared


def storage_init(conf: cfg.ConfigOpts, database: Database) -> None:
    """Write the marker that names the storage at instances_path (once, on any one host)."""
    if conf.libvirt.images_type in ("lvm", "rbd"):
        fail(f"images_type = {conf.libvirt.images_type}: instances_path holds no disks to name")
    path = conf.instances_path
    identity = shared.StorageIdentifier(path).identify()
    if identity.how == "marker":
        print(f"{path} is already named: storage id {identity.shared_id}")
        return
    marked = os.path.exists(os.path.join(path, shared.MARKER_NAME))
    if marked and not conf.category.force:
        fail(f"{identity.problem}; --force replaces it")
    try:
        storage_id = shared.write_marker(path)
    except OSError as error:
        fail(f"cannot write the storage marker in {path}: {error.strerror}")
    print(f"{path}: storage id marker:{storage_id}; every host that mounts this share reports it")


def storage_show(conf: cfg.ConfigOpts, database: Database) -> None:
    """Which storage this host's instance disks are on, as the daemon tells it."""
    if conf.libvirt.images_type in ("lvm", "rbd"):
        fail(f"images_type = {conf.libvirt.images_type}: see nodes show for its storage_id")
    identity = shared.StorageIdentifier(conf.instances_path).identify()
    mount = identity.mount
    entry = {
        "path": conf.instances_path,
        "storage_id": identity.shared_id or f"{LOCAL_STORAGE}{conf.host}",
        "shared": identity.shared_id is not None,
        "by": identity.how,
        "fstype": mount.fstype if mount else None,
        "source": mount.source if mount else None,
        "mount_point": mount.mount_point if mount else None,
        "problem": identity.problem,
    }
    output.show_one(conf.category, [entry], lambda _width: _fields_text(entry), many=False)


def _fields_text(entry: dict) -> str:
    width = max(map(len, entry))
    return "\n".join(
        f"{name:<{width}}  {'-' if value is None else value}" for name, value in entry.items()
    )


POOL_COLUMNS = (
    output.Column("STORAGE", "storage_id", shrink=True),
    output.Column("HOSTS", "hosts", right=True),
    output.Column("SIZE", "local_gb", right=True),
    output.Column("FREE", "free_gb", right=True),
    output.Column("OVER", text=lambda pool: render.gib(pool["disk_overcommit_bytes"]), right=True),
    output.Column("LEAST", "disk_available_least", right=True),
)


def storage_list(conf: cfg.ConfigOpts, database: Database) -> None:
    """One line per storage of the live compute nodes (the storage_pools view)."""
    pools = [dict(row) for row in database.storage_pools()]
    for pool in pools:
        pool["shared"] = not pool["storage_id"].startswith(LOCAL_STORAGE)
    output.show_list(
        conf.category,
        POOL_COLUMNS,
        pools,
        legend="SIZE local_gb, FREE free_disk_gb, LEAST disk_available_least, OVER "
        "over-commit (of all its hosts' disks): GiB",
    )


def add_commands(subparsers, add_output_options) -> None:
    storage = subparsers.add_parser("storage", help="the storage instance disks live on")
    actions = storage.add_subparsers(dest="action", required=True)
    init = actions.add_parser("init", help="name a shared instances_path (writes a marker)")
    init.add_argument("--force", action="store_true", help="replace a marker copied here")
    init.set_defaults(run=storage_init, needs_schema=False)
    show = actions.add_parser("show", help="which storage this host's instances_path is on")
    show.set_defaults(run=storage_show, needs_schema=False)
    listing = actions.add_parser("list", help="one line per storage, each counted once")
    listing.set_defaults(run=storage_list)
    for parser in (show, listing):
        add_output_options(parser)
