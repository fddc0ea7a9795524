"""[libvirt]: which hypervisor to audit and how its instance disks are stored."""

from oslo_config import cfg

GROUP = "libvirt"

FILE_IMAGE_TYPES = ("default", "qcow2", "raw", "flat")

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
        choices=[(name, "disks are files under instances_path") for name in FILE_IMAGE_TYPES],
        help="How instance disks are stored; decides what local_gb measures.",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(opts, group=GROUP)
