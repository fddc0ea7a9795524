"""[libvirt]: which hypervisor to audit and how its instance disks are stored."""

from oslo_config import cfg

from resource_tracker.exception import ConfigError

GROUP = "libvirt"

FILE_IMAGE_TYPES = ("default", "qcow2", "raw", "flat")
LVM = "lvm"
# LVM's own rule for names; it also keeps the value from reading as a vgs option.
VOLUME_GROUP_NAME = r"^[A-Za-z0-9+_.][A-Za-z0-9+_.-]{0,126}$"

opts = [
    cfg.StrOpt(
        "connection_uri",
        default="qemu:///system",
        help="libvirt URI to audit, opened read-only. test:///path/node.xml audits a host "
        "described in a file (libvirt's test driver).",
    ),
    cfg.StrOpt(
        "images_type",
        default="default",
        choices=[(name, "disks are files under instances_path") for name in FILE_IMAGE_TYPES]
        + [(LVM, "disks are logical volumes of images_volume_group")],
        help="How instance disks are stored; decides what local_gb measures: the file system "
        "of instances_path, or with lvm the volume group images_volume_group.",
    ),
    cfg.StrOpt(
        "images_volume_group",
        regex=VOLUME_GROUP_NAME,
        help="LVM volume group holding the instance disks; required with images_type = lvm, "
        "and only then allowed.",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(opts, group=GROUP)


def check(conf: cfg.ConfigOpts) -> None:
    """Raise ConfigError for options that are valid alone but unusable together."""
    images_type, volume_group = conf.libvirt.images_type, conf.libvirt.images_volume_group
    if images_type == LVM and not volume_group:
        raise ConfigError(
            "[libvirt] images_volume_group: required with images_type = lvm "
            "(the volume group that holds the instance disks)"
        )
    if images_type != LVM and volume_group:
        raise ConfigError(
            f"[libvirt] images_volume_group: set to {volume_group!r} but images_type is "
            f"{images_type!r}, so local storage would be measured on instances_path instead: "
            "set images_type = lvm or remove images_volume_group"
        )
