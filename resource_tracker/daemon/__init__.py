"""The daemon's runtime: the eventlet loop, its schedule, signals, systemd notify, metrics."""
