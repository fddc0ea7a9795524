"""libvirt: connection management, host facts and domain disks."""
