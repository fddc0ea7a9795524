"""resource-tracker: a libvirt/KVM host's resources, reconciled into compute_nodes."""
