"""How many more guests of a flavor fit on a host, as Nova 34 would place them one by one.

flavor.py reads a flavor's extra specs into what it asks of a host (a Request); host.py
turns a compute_nodes row into a working copy of its free resources; numa.py and pci.py fit
one guest the way Nova's hardware.numa_fit_instance_to_host and PciDeviceStats do; count.py
places guests until one does not fit and says what ran out. Pure: records in, records out.
"""
