"""Units of size, defined once for every layer: the binary multiples of a byte.

Records hold bytes (resources.py); libvirt speaks KiB and MiB, the table's MB and GB columns
are MiB and GiB, Nova's formats MiB and KiB, and operators write sizes like 2M or 80G. Each
conversion is a multiplication or a floor division by one of these.
"""

from __future__ import annotations

KiB = 2**10
MiB = 2**20
GiB = 2**30
TiB = 2**40

# A binary size by the letter of its prefix, as in 2M, 1G, 512MiB (uppercase).
BY_PREFIX = {"K": KiB, "M": MiB, "G": GiB, "T": TiB}
