"""[devices]: which mediated device types are offered as vGPUs (Nova's option)."""

from oslo_config import cfg

GROUP = "devices"

opts = [
    cfg.ListOpt(
        "enabled_mdev_types",
        default=[],
        help="The mediated device types (e.g. nvidia-222) offered as vGPUs, as Nova's option: "
        "with [placement] report, each physical GPU offering one gets a child resource "
        "provider with VGPU inventory (its existing mdevs of the type and the ones it can "
        "still create), named <hypervisor_hostname>_<its libvirt node device name>. A GPU "
        "offering several of the types uses the first listed. Empty: no vGPU providers.",
    ),
]
