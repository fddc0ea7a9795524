"""The hypervisor side: what the host has and what its domains use, in bytes and counts."""
