"""Units of size, defined once for every layer: the binary multiples of a byte.

Records hold bytes (resources.py); libvirt speaks KiB and MiB, the table's MB and GB columns
are MiB and GiB, Nova's formats MiB and KiB, and operators write sizes like 2M or 80G. Each
conversion is a multiplication or a floor division by one of these.
"""

from __future__ import annotations

import re

KiB = 2**10
MiB = 2**20
GiB = 2**30
TiB = 2**40

# A binary size by the letter of its prefix, as in 2M, 1G, 512MiB (uppercase).
BY_PREFIX = {"K": KiB, "M": MiB, "G": GiB, "T": TiB}

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*$", re.IGNORECASE)


def parse_size(text: str, default_unit: int) -> int:
    """Bytes of '16G', '512MiB', '1.5T' (binary), or of a bare number of `default_unit`
    bytes; ValueError saying what is wrong."""
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f"not a size: {text!r} (e.g. 8G, 512M)")
    unit = BY_PREFIX.get(match.group(2).upper(), default_unit)
    return int(float(match.group(1)) * unit)


def mib_in_whole_gib(mib: int) -> int:
    """MiB as the whole GiB that hold them, rounded up (Nova's convert_mb_to_ceil_gb): how
    reserved_host_disk_mb counts against local_gb, DISK_GB and the flavors' disks."""
    return -(-mib * MiB // GiB)
