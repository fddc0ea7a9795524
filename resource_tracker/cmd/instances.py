"""Where the instance disks live ([libvirt] images_type, [DEFAULT] instances_path), opened as
start-up opens it: what start-up refuses is one line naming the option and the fix.

A missing instances_path is refused, never created: the daemon only reads it (the unit gives
it no write access outside its state directory), and an empty directory made by us would be
measured as the host's local storage while the disks lie elsewhere.
"""

from __future__ import annotations

from oslo_config import cfg

from resource_tracker.cmd import within
from resource_tracker.conf.default import LIBVIRT_IMAGES, NOVA_INSTANCES
from resource_tracker.exception import ConfigError, StorageUnavailable
from resource_tracker.timeouts import START_CHECK_S
from resource_tracker.virt.disk import FileStorage, Storage
from resource_tracker.virt.lvm import LvmStorage
from resource_tracker.virt.rbd import RbdStorage

FIX = (
    "set [DEFAULT] instances_path to the directory holding this host's instance disks "
    f"(nova-compute's: {NOVA_INSTANCES}; libvirt's default pool: {LIBVIRT_IMAGES})"
)


def open_storage(conf: cfg.ConfigOpts) -> tuple[Storage, str | None]:
    """The local storage, and a warning if instances_path did not answer within
    START_CHECK_S (a hung file system is left to the audits); ConfigError if refused."""
    if conf.libvirt.images_type == "lvm":
        return LvmStorage(conf.libvirt.images_volume_group), None
    if conf.libvirt.images_type == "rbd":
        try:
            storage = RbdStorage(
                conf.libvirt.images_rbd_pool,
                conf.libvirt.images_rbd_ceph_conf,
                conf.libvirt.rbd_user,
                conf.libvirt.rbd_connect_timeout,
            )
        except ImportError as error:
            raise ConfigError(f"[libvirt] images_type = rbd: {error}") from None
        return storage, None
    path = conf.instances_path
    files = FileStorage(path)
    try:
        within(START_CHECK_S, files.measure, TimeoutError)
    except StorageUnavailable as error:
        reason = str(error).rpartition(": ")[2]
        raise ConfigError(f"[DEFAULT] instances_path = {path}: {reason}; {FIX}") from None
    except TimeoutError:
        return files, f"instances_path {path} did not answer within {START_CHECK_S:.0f} s"
    return files, None
