"""Decode a qcow2 image header into an ImageInfo, treating every byte as untrusted.

The header layout is QEMU's docs/interop/qcow2.txt. The decoder does no I/O of its own: it
asks a `read(offset, size)` callable for bytes, so the caller decides how the file is read
(one prefetched block serves nearly every image) and tests can feed it any byte string.

Every field that steers the decoding is checked before it is used: magic, version, header
length, cluster size, L1 size against the virtual size, incompatible feature bits, the
extension chain and the backing file name. Nothing is allocated by a size the file claims
beyond QEMU's own limits (a name of at most 1023 bytes, an extension within the first
cluster), and the extension walk has a fixed bound, so a hostile header costs microseconds
and ends in an ImageError naming the reason.

Names (backing file, backing format, external data file) are read as QEMU reads them: as C
strings, so a name ends at its first NUL byte ("d.raw\0junk" names d.raw, which is the file
QEMU opens and writes to); a name that is empty up to its NUL is no name. The bytes are
decoded with the file system's encoding and `surrogateescape`, so a name that is not UTF-8
still names the very file QEMU would open (os.stat encodes it back unchanged); whoever
shows a name to a person must escape it. A backing format name of 16 bytes or more is
refused, as QEMU refuses it.

Why our own decoder and not oslo.utils' imageutils.format_inspector (the inspector Nova and
Glance use), measured with `python -m bench.header_parsers` (oslo.utils 10.2, QEMU 7.2):
- Correctness on hostile headers: we refuse all 18 cases of tests/support/hostile.py, QEMU
  16 (it reads a backing name cut off by the end of the file as zeros, and `qemu-img info`
  does not open a data file the header fails to name; neither can be measured).
  format_inspector returns a virtual size for 17 of them, and its safety_check() passes 8
  that QEMU refuses: cluster_bits 0 and 64, header_length past the cluster, an L1 table too
  small for the size, encryption method 7, refcount_order 7, an extension running past the
  cluster, and a size of 2**64 - 1 bytes, which alone would push disk_available_least
  16 EiB below zero.
- Facts: it gives the virtual size only. It flags a backing file or an external data file
  as unsafe without naming them (we need the data file's name to count its allocation, and
  overlays on a backing file are what Nova makes), and refuses extended L2 images, which
  QEMU opens (it knows incompatible bits 0-3 only).
- Speed per disk (open, read, decode): ours 4.9 us (6.1 us with a backing file name),
  format_inspector 9.0 us, 11.6 us with safety_check(); it also brings in the
  `cryptography` package for its LUKS inspector (about 60 ms at import).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable

from resource_tracker.exception import ImageError
from resource_tracker.resources import ImageInfo
from resource_tracker.units import MiB

Reader = Callable[[int, int], bytes]

MAGIC = b"QFI\xfb"
V2_HEADER_LENGTH = 72
V3_MIN_HEADER_LENGTH = 104
MIN_CLUSTER_BITS = 9
MAX_CLUSTER_BITS = 21  # QEMU cannot open images with clusters above 2 MiB
MIN_EXTENDED_L2_CLUSTER_BITS = 14
MAX_L1_ENTRIES = 32 * MiB // 8  # QEMU's 32 MiB limit on the L1 table
MAX_VIRTUAL_SIZE = 2**63 - 1
SECTOR_BYTES = 512
MAX_BACKING_NAME = 1023
MAX_EXTENSION_NAME = 4096  # PATH_MAX: a longer data file or format name is not a real one
MAX_BACKING_FORMAT = 15  # QEMU's backing_format buffer holds 16 bytes with the NUL
MAX_EXTENSIONS = 128  # real images carry a handful; the bound keeps a hostile chain short
MAX_REFCOUNT_ORDER = 6

INCOMPAT_DIRTY = 1 << 0
INCOMPAT_CORRUPT = 1 << 1
INCOMPAT_DATA_FILE = 1 << 2
INCOMPAT_COMPRESSION = 1 << 3
INCOMPAT_EXTENDED_L2 = 1 << 4
KNOWN_INCOMPAT = (
    INCOMPAT_DIRTY
    | INCOMPAT_CORRUPT
    | INCOMPAT_DATA_FILE
    | INCOMPAT_COMPRESSION
    | INCOMPAT_EXTENDED_L2
)

EXT_END = 0x00000000
EXT_BACKING_FORMAT = 0xE2792ACA
EXT_DATA_FILE = 0x44415441

ENCRYPTION = {0: None, 1: "aes", 2: "luks"}
COMPRESSION_TYPES = {0: "zlib", 1: "zstd"}

_V2_FIELDS = struct.Struct(">4sIQIIQIIQQIIQ")
_V3_FIELDS = struct.Struct(">QQQII")
_EXTENSION = struct.Struct(">II")


def parse(data: bytes) -> ImageInfo:
    """Decode an image whose leading bytes are `data` (the whole file, or at least its header)."""
    return inspect(lambda offset, size: data[offset : offset + size])


def inspect(read: Reader) -> ImageInfo:
    """Decode the qcow2 header served by `read`; raise ImageError if it cannot be trusted."""
    (
        magic,
        version,
        backing_offset,
        backing_size,
        cluster_bits,
        virtual_size,
        crypt_method,
        l1_size,
        _l1_table_offset,
        _refcount_table_offset,
        _refcount_table_clusters,
        _nb_snapshots,
        _snapshots_offset,
    ) = _unpack(_V2_FIELDS, read, 0, "header")
    if magic != MAGIC:
        raise ImageError("not a qcow2 image (bad magic)")
    if version not in (2, 3):
        raise ImageError(f"unsupported qcow2 version {version}")
    if not MIN_CLUSTER_BITS <= cluster_bits <= MAX_CLUSTER_BITS:
        raise ImageError(f"cluster_bits {cluster_bits} out of range")
    cluster_size = 1 << cluster_bits
    if crypt_method not in ENCRYPTION:
        raise ImageError(f"unknown encryption method {crypt_method}")

    incompatible, header_length = 0, V2_HEADER_LENGTH
    if version == 3:
        incompatible, header_length = _check_v3_header(read, cluster_bits)
    _check_l1_covers_size(virtual_size, l1_size, cluster_bits, incompatible)

    backing_file = _backing_name(read, backing_offset, backing_size, cluster_size)
    extensions = _read_extensions(read, header_length, backing_offset or cluster_size)
    data_file = None  # the name is only meaningful with the incompatible bit set
    if incompatible & INCOMPAT_DATA_FILE:
        data_file = extensions.get(EXT_DATA_FILE)
        if not data_file:
            raise ImageError("external data file bit set but the header names no data file")
    return ImageInfo(
        format="qcow2",
        virtual_size=virtual_size // SECTOR_BYTES * SECTOR_BYTES,  # QEMU counts whole sectors
        cluster_size=cluster_size,
        version=version,
        backing_file=backing_file,
        backing_format=extensions.get(EXT_BACKING_FORMAT),
        encryption=ENCRYPTION[crypt_method],
        data_file=data_file,
    )


def _unpack(layout: struct.Struct, read: Reader, offset: int, what: str) -> tuple:
    data = read(offset, layout.size)
    if len(data) < layout.size:
        raise ImageError(f"truncated {what} at byte {offset}")
    return layout.unpack(data)


def _check_v3_header(read: Reader, cluster_bits: int) -> tuple[int, int]:
    incompatible, _compatible, _autoclear, refcount_order, header_length = _unpack(
        _V3_FIELDS, read, V2_HEADER_LENGTH, "version 3 header"
    )
    unknown = incompatible & ~KNOWN_INCOMPAT
    if unknown:
        raise ImageError(f"unknown incompatible feature bits {unknown:#x}")
    if incompatible & INCOMPAT_EXTENDED_L2 and cluster_bits < MIN_EXTENDED_L2_CLUSTER_BITS:
        raise ImageError("extended L2 entries need clusters of at least 16 KiB")
    if refcount_order > MAX_REFCOUNT_ORDER:
        raise ImageError(f"refcount_order {refcount_order} out of range")
    if header_length < V3_MIN_HEADER_LENGTH or header_length % 8:
        raise ImageError(f"invalid header_length {header_length}")
    if header_length > 1 << cluster_bits:
        raise ImageError(f"header_length {header_length} exceeds the cluster size")
    if incompatible & INCOMPAT_COMPRESSION:
        _check_compression_type(read, header_length)
    return incompatible, header_length


def _check_compression_type(read: Reader, header_length: int) -> None:
    if header_length <= V3_MIN_HEADER_LENGTH:
        raise ImageError("compression type bit set but the header has no compression_type")
    (compression_type,) = _unpack(struct.Struct(">B"), read, V3_MIN_HEADER_LENGTH, "header")
    if compression_type not in COMPRESSION_TYPES:
        raise ImageError(f"unknown compression type {compression_type}")


def _check_l1_covers_size(
    virtual_size: int, l1_size: int, cluster_bits: int, incompatible: int
) -> None:
    if virtual_size > MAX_VIRTUAL_SIZE:
        raise ImageError(f"virtual size {virtual_size} out of range")
    if l1_size > MAX_L1_ENTRIES:
        raise ImageError(f"L1 table of {l1_size} entries exceeds QEMU's limit")
    l2_entry_bits = 4 if incompatible & INCOMPAT_EXTENDED_L2 else 3
    bytes_per_l1_entry = 1 << (2 * cluster_bits - l2_entry_bits)
    if -(-virtual_size // bytes_per_l1_entry) > l1_size:
        raise ImageError(f"L1 table of {l1_size} entries too small for {virtual_size} bytes")


def _read_extensions(read: Reader, start: int, end: int) -> dict[int, str]:
    """Walk the header extensions between the header and `end`; keep the string ones we use."""
    found: dict[int, str] = {}
    offset = start
    for _ in range(MAX_EXTENSIONS):
        if offset + _EXTENSION.size > end:
            return found
        kind, length = _unpack(_EXTENSION, read, offset, "header extension")
        offset += _EXTENSION.size
        if kind == EXT_END:
            return found
        if length > end - offset:
            raise ImageError(f"header extension {kind:#x} runs past the first cluster")
        if kind in (EXT_BACKING_FORMAT, EXT_DATA_FILE):
            longest = MAX_BACKING_FORMAT if kind == EXT_BACKING_FORMAT else MAX_EXTENSION_NAME
            if length > longest:
                raise ImageError(f"header extension {kind:#x} name of {length} bytes")
            found[kind] = _read_name(read, offset, length, "header extension")
        offset += (length + 7) & ~7
    raise ImageError(f"more than {MAX_EXTENSIONS} header extensions")


def _backing_name(read: Reader, offset: int, size: int, cluster_size: int) -> str | None:
    if offset == 0:
        return None
    if size > MAX_BACKING_NAME or offset + size > cluster_size:
        raise ImageError("backing file name out of bounds")
    return _read_name(read, offset, size, "backing file name") or None


def _read_name(read: Reader, offset: int, size: int, what: str) -> str:
    """A name as QEMU sees it: up to its first NUL byte ("" if it starts with one)."""
    data = read(offset, size)
    if len(data) < size:
        raise ImageError(f"truncated {what} at byte {offset}")
    return os.fsdecode(data.partition(b"\0")[0])
