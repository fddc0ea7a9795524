"""[libvirt]: which hypervisor to audit and how its instance disks are stored."""

from oslo_config import cfg

from resource_tracker.exception import ConfigError
from resource_tracker.virt.libvirt.domains import REFRESH_AUDITS

GROUP = "libvirt"

FILE_IMAGE_TYPES = ("default", "qcow2", "raw", "flat")
VIRT_TYPES = ("kvm", "qemu", "lxc", "parallels")  # Nova's choices
LVM = "lvm"
RBD = "rbd"
# LVM's own rule for names; it also keeps the value from reading as a vgs option.
VOLUME_GROUP_NAME = r"^[A-Za-z0-9+_.][A-Za-z0-9+_.-]{0,126}$"
WEEK_OF_MINUTES = 7 * 24 * 60

opts = [
    cfg.StrOpt(
        "connection_uri",
        default="qemu:///system",
        help="libvirt URI to audit, opened read-only (and read-write for the domain "
        "capabilities alone: read_domain_capabilities). test:///path/node.xml audits a host "
        "described in a file (libvirt's test driver).",
    ),
    cfg.IntOpt(
        "domain_cache_refresh_audits",
        default=REFRESH_AUDITS,
        min=1,
        max=WEEK_OF_MINUTES,
        help="Read every domain's XML again at least every this many periods, even if "
        "libvirt sent no event about it. An audit reads a domain's XML only after a domain "
        "event named it (or it started or stopped); after each periodic audit, off the "
        "audit's path, the daemon reads a share of the domains in turn (the least recently "
        "read first), for the changes libvirt does not signal (vCPU hot-plug, AFFECT_CONFIG "
        "changes to a shut-off domain, external snapshots), and a domain found changed is "
        "audited at once: such a change is counted up to this many periods late (a shut-off "
        "domain that starts is read at once). The default, at the default 60 s period, "
        "bounds that to an hour for 1/60 of the calls of reading every domain every period "
        "(at 1,000 domains on a real libvirtd 17 XMLDesc calls a period, 2 to 3 ms). Lower "
        "it if such changes are made often and must be counted sooner. 1 reads every "
        "domain every period; the most, 10080, is a week of 60 s periods.",
    ),
    cfg.BoolOpt(
        "read_domain_capabilities",
        default=True,
        help="Read libvirt's domain capabilities (virConnectGetDomainCapabilities), which "
        "give the traits Nova's compute reports of what guests can have: "
        "COMPUTE_STORAGE_BUS_*, COMPUTE_GRAPHICS_MODEL_*, COMPUTE_SECURITY_UEFI_SECURE_BOOT, "
        "COMPUTE_SECURITY_TPM_* (with swtpm_enabled) and the SEV, SEV-ES and SEV-SNP "
        "MEM_ENCRYPTION_CONTEXT child providers. Only when [placement] report is on. libvirt "
        "refuses them on a read-only connection, so the daemon opens a read-write one for "
        "them alone when its own connection is new (libvirtd started), and closes it at "
        "once. That needs the daemon's user in group libvirt (`usermod -aG libvirt "
        "resource-tracker`), which the packages do not do: read-write access to libvirt is "
        "root's power over the host. Without it, one log line says so and these traits are "
        "neither reported nor removed. false: never open libvirt read-write (and no such "
        "line).",
    ),
    cfg.BoolOpt(
        "swtpm_enabled",
        default=False,
        help="Guests may have an emulated TPM (Nova's option of the same name): report "
        "COMPUTE_SECURITY_TPM_1_2, _2_0, _TIS, _CRB as the domain capabilities offer them "
        "(read_domain_capabilities), and the secret security traits of "
        "supported_tpm_secret_security. false: those four are removed from the provider, "
        "as Nova does.",
    ),
    cfg.StrOpt(
        "swtpm_user",
        default="tss",
        help="The user swtpm runs as (Nova's option): with swtpm_enabled, a user this host "
        "lacks means Nova's compute refuses to start, and no TPM trait is reported.",
    ),
    cfg.StrOpt(
        "swtpm_group",
        default="tss",
        help="The group swtpm runs as (Nova's option): as swtpm_user.",
    ),
    cfg.ListOpt(
        "supported_tpm_secret_security",
        default=["user", "host", "deployment"],
        help="The TPM secret security policies this host supports (Nova's option): each "
        "gives COMPUTE_SECURITY_TPM_SECRET_SECURITY_<POLICY> with swtpm_enabled.",
    ),
    cfg.StrOpt(
        "images_type",
        default="default",
        choices=[(name, "disks are files under instances_path") for name in FILE_IMAGE_TYPES]
        + [
            (LVM, "disks are logical volumes of images_volume_group"),
            (RBD, "disks are RBD images in the Ceph pool images_rbd_pool"),
        ],
        help="How instance disks are stored; decides what local_gb measures: the file system "
        "of instances_path, with lvm the volume group images_volume_group, with rbd the Ceph "
        "pool images_rbd_pool.",
    ),
    cfg.StrOpt(
        "images_volume_group",
        regex=VOLUME_GROUP_NAME,
        help="LVM volume group holding the instance disks; required with images_type = lvm, "
        "and only then allowed.",
    ),
    cfg.StrOpt(
        "images_rbd_pool",
        default="rbd",
        help="Ceph pool holding the instance disks (images_type = rbd).",
    ),
    cfg.StrOpt(
        "images_rbd_ceph_conf",
        default="",
        help="Ceph configuration file (images_type = rbd); empty: Ceph's own default, "
        "/etc/ceph/ceph.conf.",
    ),
    cfg.StrOpt(
        "rbd_user",
        help="Ceph user (without 'client.') the tracker connects as (images_type = rbd); its "
        "keyring is found as Ceph finds it (/etc/ceph/ceph.client.USER.keyring). It needs "
        "only read access: mon 'profile rbd', osd 'profile rbd-read-only pool=POOL'. "
        "Empty: admin.",
    ),
    cfg.StrOpt(
        "virt_type",
        default="kvm",
        choices=VIRT_TYPES,
        help="The kind of guests nova-compute builds, as Nova's option of the same name: with "
        "[placement] report it decides the COMPUTE_NET_VIF_MODEL_* traits (Nova's table of "
        "NIC models per virt_type) and COMPUTE_IMAGE_TYPE_PLOOP (parallels).",
    ),
    cfg.IntOpt(
        "rbd_connect_timeout",
        default=5,
        min=1,
        max=30,
        help="Seconds a Ceph call may take (images_type = rbd): connecting, and each request "
        "to a monitor or an OSD. An audit that hits it fails and is retried.",
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
