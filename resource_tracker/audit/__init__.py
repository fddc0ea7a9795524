"""The audit: the tracker and the pure arithmetic that turns what virt/ measured into rows."""
