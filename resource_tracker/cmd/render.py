"""What resource-tracker-manage prints: tables that fit a terminal, ages, sizes, JSON rows."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Sequence
from datetime import datetime

from resource_tracker.audit import nova_format
from resource_tracker.audit.shape import PageUsage
from resource_tracker.db.records import ComputeNode, PciDevice, Service
from resource_tracker.units import GiB, KiB, MiB

JSON_COLUMNS = (
    "cpu_info",
    "numa_topology",
    "supported_instances",
    "stats",
    "pci_stats",
    "mdev_capacity",
    "metrics",
    "extra_info",
)


def table(
    header: Sequence[str],
    rows: Iterable[Sequence[object]],
    right: Iterable[int] = (),
    shrink: Iterable[int] = (),
    keep_end: Iterable[int] = (),
    width: int = 0,
) -> str:
    """Columns two spaces apart; `right` ones right-aligned; the `shrink` ones cut with an
    ellipsis, widest first, until the table fits `width` (never below their heading; 0: no
    limit); the `keep_end` ones (paths) lose their start rather than their end."""
    cells = [tuple(header)] + [
        tuple("-" if cell is None else printable(str(cell)) for cell in row) for row in rows
    ]
    widths = [max(len(cell) for cell in column) for column in zip(*cells, strict=True)]
    shrink, right, keep_end = list(shrink), set(right), set(keep_end)
    while width and sum(widths) + 2 * (len(widths) - 1) > width:
        narrowable = [i for i in shrink if widths[i] > max(len(header[i]), 4)]
        if not narrowable:
            break
        widths[max(narrowable, key=lambda i: widths[i])] -= 1
    lines = []
    for row in cells:
        fitted = []
        for index, (cell, cell_width) in enumerate(zip(row, widths, strict=True)):
            cut = _cut(cell, cell_width, from_start=index in keep_end)
            fitted.append(cut.rjust(cell_width) if index in right else cut.ljust(cell_width))
        lines.append("  ".join(fitted).rstrip())
    return "\n".join(lines)


def printable(text: str) -> str:
    """`text` with what a terminal would act on escaped: control characters as \\n or \\x1b,
    bytes that were not UTF-8 (names read from image headers) as \\xff."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else _escaped(char) for char in text)


def _escaped(char: str) -> str:
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # os.fsdecode's surrogateescape: the byte it stands for
        return f"\\x{code - 0xDC00:02x}"
    return repr(char)[1:-1]


def _cut(cell: str, width: int, from_start: bool = False) -> str:
    if len(cell) <= width:
        return cell
    return "…" + cell[len(cell) - width + 1 :] if from_start else cell[: width - 1] + "…"


def age(seconds: float | None) -> str:
    """A short age: 42s, 5m, 3h, 2d; 'never' for None."""
    if seconds is None:
        return "never"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{max(0, int(seconds))}s"


def gib(size_bytes: int | None) -> str:
    return "-" if size_bytes is None else f"{size_bytes / GiB:.1f}"


def heartbeat_age(service: Service | None, now: datetime) -> float | None:
    if service is None or service.updated_at is None:
        return None
    return (now - service.updated_at).total_seconds()


def state(node: ComputeNode, service: Service | None, now: datetime, down_after_s: int) -> str:
    """deleted, up while the host's tracker reported within `down_after_s`, else down."""
    if node.deleted:
        return "deleted"
    seen = heartbeat_age(service, now)
    return "up" if seen is not None and seen <= down_after_s else "down"


def row_dict(row: ComputeNode | Service | PciDevice) -> dict:
    """Every column of a row's record, JSON-ready (times in ISO 8601 UTC, JSON columns
    parsed)."""
    result = {}
    for field in dataclasses.fields(row):
        value = getattr(row, field.name)
        if isinstance(value, datetime):
            value = value.isoformat() + "Z"
        elif field.name in JSON_COLUMNS and value:
            value = json.loads(value)
        result[field.name] = value
    return result


def numa_cells(numa_topology: dict | None) -> str:
    """numa_topology (Nova's NUMATopology primitive) as a table of cells and their use."""
    if not numa_topology:
        return "NUMA cells: none reported"
    rows = []
    for cell in nova_format.read_numa_topology(numa_topology):
        small = cell.pages[0] if cell.pages else None
        huge = ", ".join(
            f"{_page_size(page.size_bytes)} {page.used}/{page.total}"
            + (f" r{page.reserved}" if page.reserved else "")
            for page in cell.pages[1:]  # the smallest size is the cell's ordinary memory
        )
        rows.append(
            (
                cell.id,
                "-" if cell.socket is None else cell.socket,
                f"{cell.vcpus_used}/{len(cell.shared_cpus)}",
                f"{len(cell.pinned_cpus)}/{len(cell.dedicated_cpus)}",
                f"{cell.memory_used_bytes / GiB:.1f}/{cell.memory_bytes / GiB:.1f}",
                _small_pages(small) if small else "-",
                huge or "-",
            )
        )
    header = ("CELL", "SOCKET", "VCPUS", "PINNED", "MEM_GIB", "PAGES_GIB", "HUGEPAGES")
    return "\n".join(("NUMA cells", table(header, rows, right=range(5))))


# the columns of numa_cells' table, for stderr (a legend, not the document)
NUMA_LEGEND = (
    "NUMA cells: VCPUS used/shared, PINNED pinned/dedicated, MEM_GIB used/total,\n"
    "PAGES_GIB smallest pages used/total GiB, HUGEPAGES used/total; rRESERVED pages"
)


def _small_pages(page: PageUsage) -> str:
    """The cell's smallest pages, what ordinary guests bound to it take: GiB, reserve in pages."""
    used, total = page.used * page.size_bytes / GiB, page.total * page.size_bytes / GiB
    reserved = f" r{page.reserved}" if page.reserved else ""
    return f"{_page_size(page.size_bytes)} {used:.1f}/{total:.1f}{reserved}"


def _page_size(size_bytes: int) -> str:
    for unit, size in (("G", GiB), ("M", MiB)):
        if size_bytes % size == 0:
            return f"{size_bytes // size}{unit}"
    return f"{size_bytes // KiB}K"


def planned_changes(host: str, plans) -> str:
    """What a reconcile would do (resource-tracker --once --dry-run), node by node."""
    lines = []
    for plan in plans:
        node = f"{host} ({plan.hypervisor_hostname})"
        if plan.action == "unchanged":
            lines.append(f"{node}: the row is current; nothing would change")
            continue
        if plan.action == "delete":
            lines.append(f"{node}: would mark the row deleted (no longer reported)")
            continue
        verb = {"create": "create the row", "revive": "revive the deleted row"}.get(
            plan.action, f"update {len(plan.differences)} column(s)"
        )
        lines.append(f"{node}: would {verb}:")
        width = max(map(len, plan.differences), default=0)
        for column, (stored, new) in plan.differences.items():
            change = new if plan.action == "create" else f"{stored} -> {new}"
            lines.append(f"  {column:<{width}}  {change}")
    lines.append("dry run: nothing was written")
    return "\n".join(lines)
